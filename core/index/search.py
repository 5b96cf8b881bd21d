"""Exact k-nearest search over H3 cells, shared by the Redis and PostgreSQL adapters.

Best-first over a frontier of cells ordered by a lower bound of their distance to the
query point. Fine cells are read ring by ring (one round trip per step) out to
`FINE_RINGS`; beyond that, coarse parent cells cover the rest, ring by ring, so empty
countryside costs a few coarse reads instead of thousands of fine ones. A cell whose
answer was cut at `count` stays in the frontier with the last distance as its bound.
The search stops when n eligible technicians are nearer than everything unread.
"""

from __future__ import annotations

import heapq
import time
from dataclasses import dataclass, field

import h3

from core.geo.eta import EtaModel, StraightLineEta
from core.geo.sphere import EARTH_RADIUS_KM, REDIS_EARTH_RADIUS_KM, haversine_km, min_distance_to_cell_km
from core.index.base import Candidate, CellAnswer, CellSource, Snapshot, TechFilter, eligible_from_members

FINE_RINGS = 3  # 37 fine cells, ~6 km at resolution 7
REDIS_TO_OURS = EARTH_RADIUS_KM / REDIS_EARTH_RADIUS_KM  # Redis GEO measures on a slightly larger sphere
_DEFAULT_ETA = StraightLineEta()


@dataclass(order=True)
class _Item:
    bound: float
    seq: int
    cell: str = field(compare=False)
    kind: str = field(compare=False)  # "cell" | "fine_ring" | "coarse_ring"
    ring: int = field(compare=False, default=0)
    count: int = field(compare=False, default=0)


@dataclass
class SearchStats:
    round_trips: int = 0
    cells_read: int = 0


def _ring_bound(lat: float, lng: float, cells: list[str]) -> float:
    return min(min_distance_to_cell_km(lat, lng, c) for c in cells)


def search_nearest(
    source: CellSource,
    lat: float,
    lng: float,
    n: int,
    f: TechFilter,
    now: float | None = None,
    eta: EtaModel = _DEFAULT_ETA,
    stats: SearchStats | None = None,
) -> list[Candidate]:
    """The n eligible technicians nearest to (lat, lng), ranked by ETA."""
    now = time.time() if now is None else now
    stats = stats if stats is not None else SearchStats()
    per_cell = 2 * n + 4
    origin = h3.latlng_to_cell(lat, lng, source.fine_res)
    corigin = h3.latlng_to_cell(lat, lng, source.coarse_res)
    seq = 0
    frontier: list[_Item] = []

    def push(bound: float, cell: str, kind: str, ring: int = 0, count: int = per_cell) -> None:
        nonlocal seq
        seq += 1
        heapq.heappush(frontier, _Item(bound, seq, cell, kind, ring, count))

    # The first step reads the home cell and its first ring together.
    for c in h3.grid_disk(origin, 1):
        push(min_distance_to_cell_km(lat, lng, c), c, "cell")
    push(_ring_bound(lat, lng, h3.grid_ring(origin, 2)), origin, "fine_ring", 2)

    eligible: dict[int, float] = {}
    known: dict[int, Snapshot] = {}
    fine_cover = 0.0  # every point nearer than this lies in a fine cell of the disk
    read = getattr(source, "read_cells", None)
    step = h3.average_hexagon_edge_length(source.fine_res, "km")
    first = True
    growth = 1

    while frontier:
        horizon = frontier[0].bound
        best = sorted(eligible.values())
        if len(best) >= n and best[n - 1] <= horizon:
            break
        # The first step reads the home cell and its neighbours only; later steps take everything
        # whose bound lies within about one ring of the nearest unread bound.
        batch: list[_Item] = []
        first_step = first
        if first:
            first = False
            batch = [it for it in frontier if it.kind == "cell"]
            frontier = [it for it in frontier if it.kind != "cell"]
            heapq.heapify(frontier)
        # Each step that still lacks n technicians reaches twice as far: empty countryside costs a
        # few wide steps instead of many narrow ones.
        reach = horizon + step * growth
        if not first_step:
            growth *= 2
        while not first_step and frontier and frontier[0].bound <= reach:
            item = heapq.heappop(frontier)
            if item.kind == "fine_ring":
                ring = h3.grid_ring(origin, item.ring)
                for c in ring:
                    push(min_distance_to_cell_km(lat, lng, c), c, "cell")
                if item.ring < FINE_RINGS:
                    push(_ring_bound(lat, lng, h3.grid_ring(origin, item.ring + 1)), origin, "fine_ring", item.ring + 1)
                else:
                    fine_cover = _ring_bound(lat, lng, h3.grid_ring(origin, item.ring + 1))
                    push(fine_cover, corigin, "coarse_ring", 0)
            elif item.kind == "coarse_ring":
                cells = [corigin] if item.ring == 0 else h3.grid_ring(corigin, item.ring)
                for c in cells:
                    push(max(fine_cover, min_distance_to_cell_km(lat, lng, c)), c, "cell")
                nxt_bound = max(fine_cover, _ring_bound(lat, lng, h3.grid_ring(corigin, item.ring + 1)))
                if nxt_bound <= f.max_km:
                    push(nxt_bound, corigin, "coarse_ring", item.ring + 1)
            else:
                batch.append(item)
        if not batch:
            continue
        counts: dict[str, int] = {}
        for item in batch:
            counts[item.cell] = max(counts.get(item.cell, 0), item.count)
        by_count: dict[int, list[str]] = {}
        for cell, cnt in counts.items():
            by_count.setdefault(cnt, []).append(cell)
        answers: dict[str, CellAnswer] = {}
        for cnt, cells in by_count.items():
            if read is not None:
                answers.update(read(cells, lat, lng, cnt, f, now, n))
            else:
                answers.update(eligible_from_members(source, cells, lat, lng, cnt, f, now))
        stats.round_trips += 1
        stats.cells_read += len(counts)
        for cell, ans in answers.items():
            for snap in ans.eligible:
                km = haversine_km(lat, lng, snap.lat, snap.lng)
                if km <= f.max_km:
                    eligible[snap.id] = km
                    known[snap.id] = snap
            if ans.returned >= counts[cell]:
                # Cut short: the rest of this cell is at least this far away. Redis measures with a
                # slightly larger Earth radius than ours, so scale its distance down to stay a lower bound.
                push(max(0.0, ans.last_km * REDIS_TO_OURS - 0.001), cell, "cell", count=counts[cell] * 4)

    ranked = sorted(eligible.items(), key=lambda kv: (kv[1], kv[0]))[:n]
    out = []
    for tid, km in ranked:
        s = known[tid]
        out.append(
            Candidate(tid, s.lat, s.lng, km, eta.eta_minutes(s.lat, s.lng, lat, lng), s.status, s.capabilities)
        )
    out.sort(key=lambda c: (c.eta_minutes, c.distance_km, c.technician_id))
    return out

