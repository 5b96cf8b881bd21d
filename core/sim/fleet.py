"""The simulated fleet: technicians based in towns by population, on 12-hour day and night shifts."""

from __future__ import annotations

import random
from dataclasses import dataclass

from core.sim.demand import point_near, random_place

# (name, start hour, end hour, share of the fleet): 12-hour shifts. The day shift spans both
# commute peaks, a late shift covers the busy afternoon and evening, and a thinner night shift
# keeps national cover. The night shift runs into the next day, so at 00:00 it is already on.
SHIFTS: tuple[tuple[str, int, int, float], ...] = (
    ("night", 19, 31, 0.24),
    ("day", 7, 19, 0.52),
    ("late", 12, 24, 0.24),
)
# Share of vans carrying the kit for each capability a call may need.
KIT = (("run_flat", 0.7), ("suv_4x4", 0.6), ("van", 0.5), ("locking_nut", 0.8))


@dataclass(frozen=True)
class SimTech:
    id: int
    home_lat: float
    home_lng: float
    capabilities: frozenset[str]
    shift: str
    on_duty: tuple[tuple[float, float], ...]  # (start, end) minutes of the simulated day


def duty_periods(start_h: int, end_h: int) -> tuple[tuple[float, float], ...]:
    """Minutes on duty; a shift past midnight also covers the first hours of the day."""
    periods = [(start_h * 60.0, end_h * 60.0)]
    if end_h > 24:
        periods.insert(0, (0.0, (end_h - 24) * 60.0))
    return tuple(periods)


def make_fleet(size: int, seed: int) -> list[SimTech]:
    """`size` technicians, shifts in the proportions of SHIFTS; deterministic for a seed."""
    rng = random.Random(f"{seed}:fleet")
    counts = [round(size * share) for *_x, share in SHIFTS]
    counts[-1] += size - sum(counts)
    fleet: list[SimTech] = []
    for (name, start, end, _share), n in zip(SHIFTS, counts, strict=True):
        for _ in range(n):
            town = random_place(rng)
            lat, lng = point_near(rng, town.lat, town.lng, 4.0)
            caps = frozenset(c for c, p in KIT if rng.random() < p)
            fleet.append(SimTech(len(fleet) + 1, lat, lng, caps, name, duty_periods(start, end)))
    return fleet
