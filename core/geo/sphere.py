"""Distances on the sphere and H3 cell helpers."""

from __future__ import annotations

import math
from functools import lru_cache

import h3

EARTH_RADIUS_KM = 6371.0088


def haversine_km(lat1: float, lng1: float, lat2: float, lng2: float) -> float:
    """Great-circle distance in kilometres."""
    p1, p2 = math.radians(lat1), math.radians(lat2)
    dp, dl = p2 - p1, math.radians(lng2 - lng1)
    a = math.sin(dp / 2) ** 2 + math.cos(p1) * math.cos(p2) * math.sin(dl / 2) ** 2
    return 2 * EARTH_RADIUS_KM * math.asin(min(1.0, math.sqrt(a)))


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
