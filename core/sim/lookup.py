"""Candidate look-ups for the simulator: the app's own index search, kept exact between rounds.

A dispatch round asks for each waiting request's k nearest suitable free technicians.
Searching afresh for hundreds of waiting requests every simulated minute would cost
minutes of real time, yet between two rounds only a few vans change state. So each
request keeps the answer of its last `search_nearest`, and the changes since are replayed
on it: a van freed nearer than the k-th candidate joins, a van taken leaves. When a van
leaves a list that did not hold every eligible van (k found), the next look-up searches
again. The result equals a fresh search's; `audit_every=n` checks that on every n-th look-up.
"""

from __future__ import annotations

import bisect
from dataclasses import dataclass, field

from core.dispatch.batch import Option, WaitingRequest
from core.geo.eta import EtaModel, StraightLineEta
from core.geo.sphere import haversine_km
from core.index.base import TechFilter
from core.index.search import search_nearest
from core.sim.cells import MemoryCellSource


@dataclass
class _Entry:
    seq: int  # position in the change log this answer is up to date with
    complete: bool  # holds every eligible technician, so a departure needs no new search
    items: list[tuple[float, int, float]] = field(default_factory=list)  # (km, tech id, eta), by (km, id)


@dataclass(frozen=True)
class _Change:
    tech_id: int
    free: bool
    lat: float = 0.0
    lng: float = 0.0
    capabilities: frozenset[str] = frozenset()


class CachedLookup:
    """A `core.dispatch.batch.Lookup` over a MemoryCellSource; tell it when vans become free or busy."""

    def __init__(self, source: MemoryCellSource, k: int, eta: EtaModel | None = None, audit_every: int = 0) -> None:
        self.source = source
        self.k = k
        self.eta = eta or StraightLineEta()
        self.audit_every = audit_every
        self.calls = 0
        self.max_km = TechFilter().max_km
        self.searches = 0
        self._log: list[_Change] = []
        self._entries: dict[int, _Entry] = {}

    def freed(self, tech_id: int, lat: float, lng: float, capabilities: frozenset[str]) -> None:
        self._log.append(_Change(tech_id, True, lat, lng, capabilities))

    def taken(self, tech_id: int) -> None:
        self._log.append(_Change(tech_id, False))

    def forget(self, request_id: int) -> None:
        self._entries.pop(request_id, None)

    def _search(self, req: WaitingRequest, n: int, exclude: frozenset[int]) -> list[tuple[float, int, float]]:
        self.searches += 1
        f = TechFilter(capabilities=req.capabilities, exclude=exclude)
        found = search_nearest(self.source, req.lat, req.lng, n, f, now=self.source.now, eta=self.eta)
        return sorted((c.distance_km, c.technician_id, c.eta_minutes) for c in found)

    def _replay(self, req: WaitingRequest, e: _Entry) -> None:
        for ch in self._log[e.seq:]:
            pos = next((i for i, it in enumerate(e.items) if it[1] == ch.tech_id), None)
            if pos is not None:
                del e.items[pos]
                if not e.complete:  # the next nearest is unknown: search again
                    e.items, e.complete = [], False
                    e.seq = -1
                    return
            if not ch.free or not req.capabilities <= ch.capabilities:
                continue
            km = haversine_km(req.lat, req.lng, ch.lat, ch.lng)
            if km > self.max_km:
                continue
            item = (km, ch.tech_id, self.eta.eta_minutes(ch.lat, ch.lng, req.lat, req.lng))
            if len(e.items) < self.k or item < e.items[-1]:
                bisect.insort(e.items, item)
                if len(e.items) > self.k:
                    e.items.pop()
                    e.complete = False
        e.seq = len(self._log)

    def __call__(self, req: WaitingRequest, n: int, exclude: frozenset[int]) -> list[Option]:
        if self.source.available <= 0:
            return []  # what the search would say, without walking 250 km of empty cells
        e = self._entries.get(req.id)
        if e is not None:
            self._replay(req, e)
        if e is None or e.seq < 0:
            items = self._search(req, self.k, frozenset())
            e = self._entries[req.id] = _Entry(len(self._log), len(items) < self.k, items)
        items = [it for it in e.items if it[1] not in exclude]
        if len(items) < n and not e.complete:
            items = self._search(req, n, exclude)  # an exclusion emptied a partial list
        out = [Option(tid, eta) for _km, tid, eta in items[:n]]
        self.calls += 1
        if self.audit_every and self.calls % self.audit_every == 0:
            fresh = self._search(req, n, exclude)
            assert [it[1] for it in fresh] == [o.technician_id for o in out], (req.id, fresh, out)
        return sorted(out, key=lambda o: (o.eta_minutes, o.technician_id))
