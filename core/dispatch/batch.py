"""Assignment of waiting requests to free technicians: greedy nearest-first, or all at once.

Pure functions, no I/O. Both policies take the same inputs and return the same
(request_id, technician_id, eta_minutes) triples; candidates come from a `Lookup`
(the technician index in the app and the simulator, brute force in `*_assign`).

The batch cost of sending technician t to request r, in minutes (lower is better):

    eta                                  van time on the road: shorter trips serve more people
  - W_HIT   if waited + eta <= SLA       this assignment keeps the 90-minute promise
  - W_URG   * min(waited, SLA) / SLA     the longer a savable request waited, the sooner it breaches
  - W_PRI   * (4 - priority)             priority 1 (motorway, vulnerable) outranks 4
  - W_AGE   * max(0, waited - SLA)       a breached request still climbs, so nobody is left to rot

Only `eta` and the W_HIT step depend on the technician, and both favour the nearer one, so
for one request the cost never prefers a farther van. (The tempting `- w * (waited + eta - SLA)`
does: with w >= 1 it pays to send a van from farther away.) With fewer vans than requests, the
solver spends each van where it keeps a promise on a short trip; with more vans than requests,
it minimises the total ETA while making as many promises as it can.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from typing import NamedTuple

import numpy as np
from scipy.optimize import linear_sum_assignment

from core.geo.eta import EtaModel, StraightLineEta
from core.geo.sphere import haversine_km_many

BATCH_WINDOW = 200  # waiting requests considered in one batch round
BATCH_CANDIDATES = 10  # nearest suitable technicians per request
MIN_ETA_MIN = 8.0  # no van is on site sooner than its mobilisation time (StraightLineEta)
_INFEASIBLE = 1e9  # not a candidate (capabilities, or not among the k nearest)


@dataclass(frozen=True)
class WaitingRequest:
    id: int
    lat: float
    lng: float
    priority: int  # 1 most urgent .. 4
    waited_min: float
    capabilities: frozenset[str] = frozenset()


@dataclass(frozen=True)
class FreeTech:
    id: int
    lat: float
    lng: float
    capabilities: frozenset[str] = frozenset()


class Option(NamedTuple):
    """A suitable technician for a request and the minutes to get there."""

    technician_id: int
    eta_minutes: float


class Assignment(NamedTuple):
    request_id: int
    technician_id: int
    eta_minutes: float


@dataclass(frozen=True)
class Weights:
    """Minutes of ETA that each consideration is worth (see the module docstring)."""

    hit: float = 60.0
    urgency: float = 30.0
    priority: float = 10.0
    age: float = 0.25


DEFAULT_WEIGHTS = Weights()

# (request, n, excluded technician ids) -> up to n suitable technicians, nearest first.
Lookup = Callable[[WaitingRequest, int, frozenset[int]], Sequence[Option]]


def greedy_order(requests: Iterable[WaitingRequest]) -> list[WaitingRequest]:
    """Most urgent first, then oldest: the order of the app's sweep."""
    return sorted(requests, key=lambda r: (r.priority, -r.waited_min, r.id))


def window(requests: Iterable[WaitingRequest], sla_minutes: float, limit: int = BATCH_WINDOW,
           min_eta: float = MIN_ETA_MIN) -> list[WaitingRequest]:
    """The requests one batch round looks at: those that can still be on time first.

    In a surge the queue outgrows the window; filled by age alone it would hold only
    requests that are already late, and the batch would have no promise left to keep.
    """
    def key(r: WaitingRequest) -> tuple[int, int, float, int]:
        return (0 if r.waited_min + min_eta <= sla_minutes else 1, r.priority, -r.waited_min, r.id)

    return sorted(requests, key=key)[:limit]


def pair_cost(req: WaitingRequest, eta: float, sla_minutes: float, w: Weights = DEFAULT_WEIGHTS) -> float:
    """Cost in minutes of serving `req` with a van `eta` minutes away."""
    cost = eta - w.priority * (4 - req.priority)
    if req.waited_min + eta <= sla_minutes:
        cost -= w.hit
    cost -= w.urgency * min(req.waited_min, sla_minutes) / sla_minutes
    cost -= w.age * max(0.0, req.waited_min - sla_minutes)
    return cost


def cost_matrix(
    requests: Sequence[WaitingRequest], options: dict[int, Sequence[Option]], sla_minutes: float,
    w: Weights = DEFAULT_WEIGHTS,
) -> tuple[np.ndarray, np.ndarray, list[int]]:
    """Costs over requests x the union of their candidates; also the ETAs and the technician ids."""
    tech_ids = sorted({o.technician_id for r in requests for o in options.get(r.id, ())})
    col_of = {t: j for j, t in enumerate(tech_ids)}
    costs = np.full((len(requests), len(tech_ids)), _INFEASIBLE)
    etas = np.full_like(costs, np.inf)
    for i, r in enumerate(requests):
        for o in options.get(r.id, ()):
            j = col_of[o.technician_id]
            costs[i, j] = pair_cost(r, o.eta_minutes, sla_minutes, w)
            etas[i, j] = o.eta_minutes
    return costs, etas, tech_ids


def batch_round(
    requests: Sequence[WaitingRequest], lookup: Lookup, sla_minutes: float = 90,
    weights: Weights = DEFAULT_WEIGHTS, k: int = BATCH_CANDIDATES,
) -> list[Assignment]:
    """Assign all at once: minimum total cost over each request's k nearest candidates."""
    options = {r.id: lookup(r, k, frozenset()) for r in requests}
    costs, etas, tech_ids = cost_matrix(requests, options, sla_minutes, weights)
    if costs.size == 0:
        return []
    # Rectangular is fine: every row or every column is matched. The huge cost of a
    # non-candidate makes the solver maximise the number of real pairs first.
    rows, cols = linear_sum_assignment(costs)
    return [
        Assignment(requests[i].id, tech_ids[j], float(etas[i, j]))
        for i, j in zip(rows, cols, strict=True)
        if costs[i, j] < _INFEASIBLE / 2
    ]


def greedy_round(requests: Sequence[WaitingRequest], lookup: Lookup) -> list[Assignment]:
    """Each request in priority/age order takes its nearest suitable technician still free."""
    taken: set[int] = set()
    out = []
    for r in greedy_order(requests):
        best = lookup(r, 1, frozenset(taken))
        if best:
            taken.add(best[0].technician_id)
            out.append(Assignment(r.id, best[0].technician_id, best[0].eta_minutes))
    return out


class TechTable:
    """Brute-force nearest suitable technicians (vectorised): the lookup for plain lists."""

    def __init__(self, techs: Sequence[FreeTech], eta: EtaModel | None = None) -> None:
        self.techs = list(techs)
        self.eta = eta or StraightLineEta()
        self._lat = np.radians([t.lat for t in self.techs])
        self._lng = np.radians([t.lng for t in self.techs])
        self._pos = {t.id: i for i, t in enumerate(self.techs)}

    def km_from(self, lat: float, lng: float) -> np.ndarray:
        return haversine_km_many(lat, lng, self._lat, self._lng)

    def __call__(self, req: WaitingRequest, n: int, exclude: frozenset[int]) -> list[Option]:
        if not self.techs:
            return []
        km = self.km_from(req.lat, req.lng)
        ok = np.array([req.capabilities <= t.capabilities for t in self.techs])
        for tid in exclude:
            if tid in self._pos:
                ok[self._pos[tid]] = False
        idx = np.flatnonzero(ok)
        if idx.size > n:
            idx = idx[np.argpartition(km[idx], n - 1)[:n]]
        # The ETA grows with distance for a fixed destination, so nearest by km is nearest by ETA.
        opts = [Option(self.techs[i].id, self.eta.eta_minutes(self.techs[i].lat, self.techs[i].lng, req.lat, req.lng))
                for i in idx]
        return sorted(opts, key=lambda o: (o.eta_minutes, o.technician_id))


def batch_assign(
    requests: Sequence[WaitingRequest], techs: Sequence[FreeTech], eta: EtaModel | None = None, *,
    sla_minutes: float = 90, weights: Weights = DEFAULT_WEIGHTS, k: int = BATCH_CANDIDATES,
) -> list[Assignment]:
    """Batch assignment over plain lists; candidates are each request's k nearest suitable technicians."""
    return batch_round(requests, TechTable(techs, eta), sla_minutes, weights, k)


def greedy_assign(
    requests: Sequence[WaitingRequest], techs: Sequence[FreeTech], eta: EtaModel | None = None, *,
    sla_minutes: float = 90, weights: Weights = DEFAULT_WEIGHTS, k: int = BATCH_CANDIDATES,
) -> list[Assignment]:
    """Greedy nearest-first over plain lists (same interface as `batch_assign`; weights unused)."""
    return greedy_round(requests, TechTable(techs, eta))
