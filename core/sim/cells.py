"""An in-memory technician index with the semantics of RedisTechnicianIndex, for the simulator.

It implements the `CellSource` protocol, so the simulator's lookups run the app's own
search (`core.index.search.search_nearest`). Like Redis it holds every on-shift technician
in one fine H3 cell and its coarse parent, whatever the status; the search filters by status.
"""

from __future__ import annotations

from collections.abc import Iterator

import h3

from core.geo.sphere import haversine_km
from core.index.base import Snapshot
from core.states import TechStatus


class MemoryCellSource:
    """Fine cells and coarse parents -> technician ids, and a snapshot per technician (the authority)."""

    def __init__(self, fine_res: int = 7, coarse_res: int = 4) -> None:
        self.fine_res = fine_res
        self.coarse_res = coarse_res
        self.now = 0.0  # every on-shift phone pings, so every position is as fresh as the clock
        self._snap: dict[int, Snapshot] = {}
        self._members: dict[str, set[int]] = {}
        self.available = 0

    def __len__(self) -> int:
        return len(self._snap)

    def __contains__(self, tech_id: int) -> bool:
        return tech_id in self._snap

    def get(self, tech_id: int) -> Snapshot | None:
        return self._snap.get(tech_id)

    def upsert(self, tech_id: int, lat: float, lng: float, status: str, capabilities: frozenset[str]) -> None:
        """Place or move a technician: out of the old cell and parent, into the new ones."""
        cell = h3.latlng_to_cell(lat, lng, self.fine_res)
        parent = h3.cell_to_parent(cell, self.coarse_res)
        old = self._snap.get(tech_id)
        if old is not None:
            self._leave(old)
        self._snap[tech_id] = Snapshot(tech_id, lat, lng, cell, parent, status, capabilities, self.now)
        self._members.setdefault(cell, set()).add(tech_id)
        self._members.setdefault(parent, set()).add(tech_id)
        self.available += status == TechStatus.AVAILABLE

    def set_status(self, tech_id: int, status: str, expected: str | None = None) -> bool:
        """Compare-and-set of the status, as the claim does in Redis."""
        s = self._snap.get(tech_id)
        if s is None or (expected is not None and s.status != expected):
            return False
        self.available += (status == TechStatus.AVAILABLE) - (s.status == TechStatus.AVAILABLE)
        self._snap[tech_id] = Snapshot(s.id, s.lat, s.lng, s.cell, s.parent, status, s.capabilities, s.ts)
        return True

    def remove(self, tech_id: int) -> None:
        old = self._snap.pop(tech_id, None)
        if old is not None:
            self._leave(old)

    def _leave(self, s: Snapshot) -> None:
        self.available -= s.status == TechStatus.AVAILABLE
        for c in (s.cell, s.parent):
            members = self._members[c]
            members.discard(s.id)
            if not members:
                del self._members[c]

    # CellSource
    def nearest_in_cells(
        self, cells: list[str], lat: float, lng: float, count: int
    ) -> dict[str, list[tuple[int, float]]]:
        out: dict[str, list[tuple[int, float]]] = {}
        for c in cells:
            members = self._members.get(c)
            if not members:
                out[c] = []
                continue
            snap = self._snap
            dist = sorted((haversine_km(lat, lng, snap[i].lat, snap[i].lng), i) for i in members)
            out[c] = [(i, km) for km, i in dist[:count]]
        return out

    def snapshots(self, ids: list[int]) -> dict[int, Snapshot]:
        now = self.now
        out = {}
        for i in ids:
            s = self._snap.get(i)
            if s is not None:
                out[i] = Snapshot(s.id, s.lat, s.lng, s.cell, s.parent, s.status, s.capabilities, now)
        return out

    # checks
    def memberships(self, tech_id: int) -> Iterator[str]:
        """Every cell (fine or coarse) whose set holds the id; scans, for tests and audits."""
        return (c for c, m in self._members.items() if tech_id in m)

    def audit(self) -> None:
        """Each technician in exactly its own fine cell and parent, and the available count right."""
        for tid, s in self._snap.items():
            assert sorted(self.memberships(tid)) == sorted((s.cell, s.parent)), f"technician {tid} misplaced"
            assert s.cell == h3.latlng_to_cell(s.lat, s.lng, self.fine_res)
        assert self.available == sum(s.status == TechStatus.AVAILABLE for s in self._snap.values())
        assert all(i in self._snap for m in self._members.values() for i in m)
