"""The demand model: when and where drivers call, what went wrong, and how long the fix takes.

Where: a UK place drawn by population (core.geo.places, ~5,900 places in the four nations), then
a point spread around it by the town's size. When: a Poisson number of calls per hour from an
hourly profile with a morning and a bigger evening commute peak; a storm multiplies the
evening peak (16:00-21:00) by five. Both policies see the very same calls (same seed).
"""

from __future__ import annotations

import bisect
import itertools
import math
import random
import zlib
from dataclasses import dataclass
from functools import cache

import numpy as np

from core.geo import places
from core.requests.priority import priority
from core.schemas import Issue

# Share of a normal day's calls per hour, 00:00 first: quiet nights, commute peaks at 8 and 17.
HOURLY_WEIGHTS = (1.2, 0.8, 0.6, 0.5, 0.6, 1.2, 3.0, 6.0, 7.0, 5.5, 4.8, 4.8,
                  5.0, 5.0, 5.0, 5.6, 6.8, 8.0, 7.2, 5.6, 4.2, 3.3, 2.3, 1.6)
HOURLY_PROFILE = tuple(w / sum(HOURLY_WEIGHTS) for w in HOURLY_WEIGHTS)

# issue: (share of calls, service minutes low, high)
ISSUES: dict[Issue, tuple[float, float, float]] = {
    Issue.PUNCTURE: (0.45, 25, 40),
    Issue.FLAT: (0.18, 25, 40),
    Issue.BLOWOUT: (0.14, 35, 55),
    Issue.DAMAGED_WHEEL: (0.08, 45, 75),
    Issue.LOCKING_NUT_LOST: (0.08, 30, 50),
    Issue.OTHER: (0.07, 30, 60),
}
P_MOTORWAY, P_VULNERABLE, P_RUN_FLAT = 0.10, 0.07, 0.08
VEHICLE_CAPS = ((0.14, "suv_4x4"), (0.07, "van"))  # (share of calls, capability the van needs)


@dataclass(frozen=True)
class Scenario:
    name: str
    requests_per_day: float = 1200.0
    surge_factor: float = 1.0
    surge_hours: tuple[int, int] = (16, 21)  # [start, end) hours multiplied by surge_factor

    def rate(self, hour: int) -> float:
        """Expected calls in this hour of the day."""
        boost = self.surge_factor if self.surge_hours[0] <= hour % 24 < self.surge_hours[1] else 1.0
        return self.requests_per_day * HOURLY_PROFILE[hour % 24] * boost


SCENARIOS = {
    "normal": Scenario("normal"),
    "storm": Scenario("storm", surge_factor=5.0),
}


@dataclass(frozen=True)
class SimRequest:
    id: int
    t: float  # minute of the day the call came in
    lat: float
    lng: float
    issue: Issue
    priority: int
    capabilities: frozenset[str]
    service_min: float


@cache
def _towns() -> tuple[tuple[places.Place, ...], list[float]]:
    towns = tuple(places.uk_places())
    return towns, list(itertools.accumulate(p.population for p in towns))


def spread_km(population: int) -> float:
    """How far calls spread around a place: a village ~1.5 km, a city ~10 km."""
    return min(12.0, max(1.5, math.sqrt(population) / 100.0))


point_near = places.random_point_near


def random_place(rng: random.Random) -> places.Place:
    towns, cum = _towns()
    return towns[bisect.bisect_right(cum, rng.random() * cum[-1])]


def generate_requests(scenario: Scenario, seed: int, hours: float = 24.0) -> list[SimRequest]:
    """The calls of one day (or its first `hours`), in time order; deterministic for a seed."""
    rng = random.Random(f"{seed}:{scenario.name}:calls")
    counts = np.random.default_rng([seed, zlib.crc32(scenario.name.encode())]).poisson(
        [scenario.rate(h) for h in range(math.ceil(hours))]
    )
    issues, shares = list(ISSUES), [v[0] for v in ISSUES.values()]
    out: list[SimRequest] = []
    times = sorted(h * 60 + rng.random() * 60 for h, c in enumerate(counts) for _ in range(c))
    for i, t in enumerate(x for x in times if x < hours * 60):
        town = random_place(rng)
        lat, lng = point_near(rng, town.lat, town.lng, spread_km(town.population))
        issue = rng.choices(issues, shares)[0]
        caps = {cap for share, cap in VEHICLE_CAPS if rng.random() < share}
        if rng.random() < P_RUN_FLAT:
            caps.add("run_flat")
        if issue == Issue.LOCKING_NUT_LOST:
            caps.add("locking_nut")
        _share, lo, hi = ISSUES[issue]
        prio = priority(issue, rng.random() < P_MOTORWAY, rng.random() < P_VULNERABLE)
        out.append(SimRequest(i + 1, t, lat, lng, issue, prio, frozenset(caps), rng.uniform(lo, hi)))
    return out
