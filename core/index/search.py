"""Exact k-nearest search over H3 cells, shared by the PostgreSQL and Redis Cluster adapters.

Best-first over a frontier of cells ordered by a lower bound of their distance to the
query point. Fine cells are read ring by ring (one round trip per step) out to
`FINE_RINGS`; beyond that, coarse parent cells cover the rest, ring by ring, so empty
countryside costs a few coarse reads instead of thousands of fine ones. A cell whose
answer was cut at `count` stays in the frontier with the last distance as its bound.
The search stops when n eligible technicians are nearer than everything unread.

The frontier holds three kinds of entry, each a small object that knows what taking it
means: a cell (`_Cell`, read in the next round trip), the next fine ring (`_FineRing`) and
the next coarse ring (`_CoarseRing`), which put their cells and their successor back.
"""

from __future__ import annotations

import heapq
import time
from dataclasses import dataclass, field
from typing import Protocol

import h3

from core.geo.eta import EtaModel
from core.geo.sphere import EARTH_RADIUS_KM, REDIS_EARTH_RADIUS_KM, haversine_km, min_distance_to_cell_km
from core.index.base import Candidate, CellAnswer, CellSource, Snapshot, TechFilter, eligible_from_members

FINE_RINGS = 3  # 37 fine cells, ~6 km at resolution 7
REDIS_TO_OURS = EARTH_RADIUS_KM / REDIS_EARTH_RADIUS_KM  # Redis GEO measures on a slightly larger sphere


@dataclass
class SearchStats:
    round_trips: int = 0
    cells_read: int = 0


class _Entry(Protocol):
    def take(self, search: _Search, batch: list[_Cell]) -> None:
        """What popping this entry off the frontier does: join the batch to read, or push more entries."""


@dataclass(order=True)
class _Item:
    bound: float
    seq: int
    entry: _Entry = field(compare=False)


@dataclass(frozen=True)
class _Cell:
    """A cell to read, up to `count` members (4x the last count once a read was cut short)."""

    cell: str
    count: int

    def take(self, search: _Search, batch: list[_Cell]) -> None:
        batch.append(self)


@dataclass(frozen=True)
class _FineRing:
    """The fine cells `ring` steps from the home cell; after the last fine ring, the coarse cover."""

    ring: int

    def take(self, search: _Search, batch: list[_Cell]) -> None:
        for c in h3.grid_ring(search.origin, self.ring):
            search.push_cell(c, search.cell_bound(c))
        beyond = search.ring_bound(h3.grid_ring(search.origin, self.ring + 1))
        if self.ring < FINE_RINGS:
            search.push(beyond, _FineRing(self.ring + 1))
        else:
            search.fine_cover = beyond  # every point nearer than this lies in a fine cell already pushed
            search.push(beyond, _CoarseRing(0))


@dataclass(frozen=True)
class _CoarseRing:
    """The coarse cells `ring` steps from the coarse home cell, out to the filter's max_km."""

    ring: int

    def take(self, search: _Search, batch: list[_Cell]) -> None:
        cells = [search.corigin] if self.ring == 0 else h3.grid_ring(search.corigin, self.ring)
        for c in cells:
            search.push_cell(c, max(search.fine_cover, search.cell_bound(c)))
        beyond = max(search.fine_cover, search.ring_bound(h3.grid_ring(search.corigin, self.ring + 1)))
        if beyond <= search.f.max_km:
            search.push(beyond, _CoarseRing(self.ring + 1))


def search_nearest(
    source: CellSource,
    lat: float,
    lng: float,
    n: int,
    f: TechFilter,
    eta: EtaModel,
    now: float | None = None,
    stats: SearchStats | None = None,
) -> list[Candidate]:
    """The n eligible technicians nearest to (lat, lng), ranked by `eta` (the core's model)."""
    if n <= 0:
        return []
    search = _Search(source, lat, lng, n, f, time.time() if now is None else now,
                     stats if stats is not None else SearchStats())
    search.run()
    return search.ranked(eta)


class _Search:
    """One search's frontier and findings."""

    def __init__(self, source: CellSource, lat: float, lng: float, n: int, f: TechFilter, now: float,
                 stats: SearchStats) -> None:
        self.source, self.lat, self.lng, self.n, self.f, self.now, self.stats = source, lat, lng, n, f, now, stats
        self.per_cell = 2 * n + 4
        self.origin = h3.latlng_to_cell(lat, lng, source.fine_res)
        self.corigin = h3.latlng_to_cell(lat, lng, source.coarse_res)
        self.step_km = h3.average_hexagon_edge_length(source.fine_res, "km")
        self.frontier: list[_Item] = []
        self.seq = 0
        self.fine_cover = 0.0
        self.eligible: dict[int, float] = {}  # id -> km
        self.known: dict[int, Snapshot] = {}

    # the frontier
    def push(self, bound: float, entry: _Entry) -> None:
        self.seq += 1
        heapq.heappush(self.frontier, _Item(bound, self.seq, entry))

    def push_cell(self, cell: str, bound: float, count: int | None = None) -> None:
        self.push(bound, _Cell(cell, self.per_cell if count is None else count))

    def cell_bound(self, cell: str) -> float:
        return min_distance_to_cell_km(self.lat, self.lng, cell)

    def ring_bound(self, cells: list[str]) -> float:
        return min(self.cell_bound(c) for c in cells)

    # the steps
    def run(self) -> None:
        """The home cell and its first ring in the first round trip, then steps that reach ever further."""
        home = [_Cell(c, self.per_cell) for c in h3.grid_disk(self.origin, 1)]
        self.push(self.ring_bound(h3.grid_ring(self.origin, 2)), _FineRing(2))
        self.read(home)
        growth = 1
        while self.frontier and not self.done():
            # Each step that still lacks n technicians reaches twice as far: empty countryside costs a
            # few wide steps instead of many narrow ones.
            batch = self.take_within(self.frontier[0].bound + self.step_km * growth)
            growth *= 2
            if batch:
                self.read(batch)

    def done(self) -> bool:
        """n eligible technicians are no farther than anything unread."""
        if len(self.eligible) < self.n:
            return False
        return heapq.nsmallest(self.n, self.eligible.values())[-1] <= self.frontier[0].bound

    def take_within(self, reach: float) -> list[_Cell]:
        """Everything whose bound lies within `reach`: the cells to read, the rings expanded."""
        batch: list[_Cell] = []
        while self.frontier and self.frontier[0].bound <= reach:
            heapq.heappop(self.frontier).entry.take(self, batch)
        return batch

    def read(self, batch: list[_Cell]) -> None:
        """One round trip: the batch's cells, each with the largest count asked of it."""
        counts: dict[str, int] = {}
        for c in batch:
            counts[c.cell] = max(counts.get(c.cell, 0), c.count)
        by_count: dict[int, list[str]] = {}
        for cell, cnt in counts.items():
            by_count.setdefault(cnt, []).append(cell)
        answers: dict[str, CellAnswer] = {}
        for cnt, cells in by_count.items():
            answers.update(eligible_from_members(self.source, cells, self.lat, self.lng, cnt, self.f, self.now))
        self.stats.round_trips += 1
        self.stats.cells_read += len(counts)
        for cell, ans in answers.items():
            self.keep(ans)
            if ans.returned >= counts[cell]:
                # Cut short: the rest of this cell is at least this far away. Redis measures with a
                # slightly larger Earth radius than ours, so scale its distance down to stay a lower bound.
                self.push_cell(cell, max(0.0, ans.last_km * REDIS_TO_OURS - 0.001), counts[cell] * 4)

    def keep(self, ans: CellAnswer) -> None:
        for snap in ans.eligible:
            km = haversine_km(self.lat, self.lng, snap.lat, snap.lng)
            if km <= self.f.max_km:
                self.eligible[snap.id] = km
                self.known[snap.id] = snap

    def ranked(self, eta: EtaModel) -> list[Candidate]:
        """The n nearest, ranked by ETA (then distance and id)."""
        nearest = sorted(self.eligible.items(), key=lambda kv: (kv[1], kv[0]))[: self.n]
        out = []
        for tid, km in nearest:
            s = self.known[tid]
            out.append(Candidate(tid, s.lat, s.lng, km, eta.eta_minutes(s.lat, s.lng, self.lat, self.lng), s.status,
                                 s.capabilities))
        out.sort(key=lambda c: (c.eta_minutes, c.distance_km, c.technician_id))
        return out
