"""The ETA model: minutes for a van to reach a point."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol

from core.geo.places import area_type
from core.geo.sphere import haversine_km


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
        return self.minutes_for_km(haversine_km(from_lat, from_lng, to_lat, to_lng), area_type(to_lat, to_lng))

    def minutes_for_km(self, km: float, area: str = "urban") -> float:
        road_km = km * self.circuity
        local = min(road_km, self.local_km)
        local_kmh = self.urban_kmh if area == "urban" else self.rural_kmh
        return self.mobilisation_min + 60.0 * (local / local_kmh + (road_km - local) / self.trunk_kmh)

