"""Distances on the sphere and H3 cell helpers."""

from __future__ import annotations

import math
from functools import lru_cache

import h3
import numpy as np

# The mean Earth radius (IUGG): every distance of the core, the benchmarks and the tests uses it.
EARTH_RADIUS_KM = 6371.0088
# The radius Redis GEO commands measure with (geohelper.c): the index scales Redis's distances by
# EARTH_RADIUS_KM / REDIS_EARTH_RADIUS_KM so that they stay comparable with ours.
REDIS_EARTH_RADIUS_KM = 6372.797560856
KM_PER_DEGREE = EARTH_RADIUS_KM * math.pi / 180


def haversine_km(lat1: float, lng1: float, lat2: float, lng2: float) -> float:
    """Great-circle distance in kilometres."""
    p1, p2 = math.radians(lat1), math.radians(lat2)
    dp, dl = p2 - p1, math.radians(lng2 - lng1)
    a = math.sin(dp / 2) ** 2 + math.cos(p1) * math.cos(p2) * math.sin(dl / 2) ** 2
    return 2 * EARTH_RADIUS_KM * math.asin(min(1.0, math.sqrt(a)))


def haversine_km_many(
    lat: float, lng: float, lats_rad: np.ndarray, lngs_rad: np.ndarray, cos_lats: np.ndarray | None = None
) -> np.ndarray:
    """`haversine_km` from one point to many (positions in radians; their cosines if the caller keeps them)."""
    p, lam = math.radians(lat), math.radians(lng)
    cos_lats = np.cos(lats_rad) if cos_lats is None else cos_lats
    a = np.sin((lats_rad - p) / 2) ** 2 + math.cos(p) * cos_lats * np.sin((lngs_rad - lam) / 2) ** 2
    km: np.ndarray = 2 * EARTH_RADIUS_KM * np.arcsin(np.minimum(1.0, np.sqrt(a)))
    return km


def cell_of(lat: float, lng: float, res: int) -> str:
    cell: str = h3.latlng_to_cell(lat, lng, res)
    return cell


@lru_cache(maxsize=262_144)
def cell_center(cell: str) -> tuple[float, float]:
    center: tuple[float, float] = h3.cell_to_latlng(cell)
    return center


@lru_cache(maxsize=262_144)
def cell_radius_km(cell: str) -> float:
    """Circumradius: no point of the cell is farther than this from its centre."""
    clat, clng = cell_center(cell)
    return max(haversine_km(clat, clng, lat, lng) for lat, lng in h3.cell_to_boundary(cell))


def min_distance_to_cell_km(lat: float, lng: float, cell: str) -> float:
    """A lower bound of the distance from a point to any point of a cell."""
    clat, clng = cell_center(cell)
    return max(0.0, haversine_km(lat, lng, clat, clng) - cell_radius_km(cell) * 1.001)
