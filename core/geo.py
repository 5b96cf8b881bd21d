"""Distances, H3 helpers and the ETA model."""

from __future__ import annotations

import math
from dataclasses import dataclass
from functools import lru_cache
from typing import Protocol

import h3

EARTH_RADIUS_KM = 6371.0088


def haversine_km(lat1: float, lng1: float, lat2: float, lng2: float) -> float:
    """Great-circle distance in kilometres."""
    p1, p2 = math.radians(lat1), math.radians(lat2)
    dp, dl = p2 - p1, math.radians(lng2 - lng1)
    a = math.sin(dp / 2) ** 2 + math.cos(p1) * math.cos(p2) * math.sin(dl / 2) ** 2
    return 2 * EARTH_RADIUS_KM * math.asin(min(1.0, math.sqrt(a)))


def cell_of(lat: float, lng: float, res: int) -> str:
    return h3.latlng_to_cell(lat, lng, res)


@lru_cache(maxsize=262_144)
def cell_center(cell: str) -> tuple[float, float]:
    return h3.cell_to_latlng(cell)


@lru_cache(maxsize=262_144)
def cell_radius_km(cell: str) -> float:
    """Circumradius: no point of the cell is farther than this from its centre."""
    clat, clng = cell_center(cell)
    return max(haversine_km(clat, clng, lat, lng) for lat, lng in h3.cell_to_boundary(cell))


def min_distance_to_cell_km(lat: float, lng: float, cell: str) -> float:
    """A lower bound of the distance from a point to any point of a cell."""
    clat, clng = cell_center(cell)
    return max(0.0, haversine_km(lat, lng, clat, clng) - cell_radius_km(cell) * 1.001)


class EtaModel(Protocol):
    """Minutes for a van to reach a point. Must grow with distance for a fixed destination."""

    def eta_minutes(self, from_lat: float, from_lng: float, to_lat: float, to_lng: float) -> float: ...


@dataclass(frozen=True)
class StraightLineEta:
    """Great-circle distance x circuity at a speed set by the area, plus mobilisation.

    The first `local_km` of a trip go at the destination's local speed (urban or rural
    roads), the rest at trunk-road speed. Travel time therefore grows with distance for
    a fixed destination, which lets the index search by distance and stay exact.
    """

    mobilisation_min: float = 8.0
    circuity: float = 1.3
    urban_kmh: float = 28.0
    rural_kmh: float = 50.0
    trunk_kmh: float = 80.0
    local_km: float = 8.0

    def eta_minutes(self, from_lat: float, from_lng: float, to_lat: float, to_lng: float) -> float:
        return self.minutes_for_km(haversine_km(from_lat, from_lng, to_lat, to_lng), _area(to_lat, to_lng))

    def minutes_for_km(self, km: float, area: str = "urban") -> float:
        road_km = km * self.circuity
        local = min(road_km, self.local_km)
        local_kmh = self.urban_kmh if area == "urban" else self.rural_kmh
        return self.mobilisation_min + 60.0 * (local / local_kmh + (road_km - local) / self.trunk_kmh)


def _area(lat: float, lng: float) -> str:
    from core.places import area_type

    return area_type(lat, lng)
