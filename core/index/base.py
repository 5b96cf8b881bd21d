"""Types shared by the index adapters."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Protocol

from core.states import TechStatus


@dataclass(frozen=True)
class TechFilter:
    """Which technicians may be offered."""

    statuses: frozenset[str] = frozenset({TechStatus.AVAILABLE.value})
    capabilities: frozenset[str] = frozenset()
    max_age_s: float = 120.0
    exclude: frozenset[int] = frozenset()
    # Beyond this no van is sent: hours away, and it bounds the search in an empty fleet.
    max_km: float = 250.0


@dataclass(frozen=True)
class Snapshot:
    """A technician as the index's authority (hash or row) holds it."""

    id: int
    lat: float
    lng: float
    cell: str
    parent: str
    status: str
    capabilities: frozenset[str]
    ts: float  # epoch seconds of the position

    def passes(self, f: TechFilter, now: float) -> bool:
        return (
            self.status in f.statuses
            and f.capabilities <= self.capabilities
            and now - self.ts <= f.max_age_s
            and self.id not in f.exclude
        )


@dataclass(frozen=True)
class IndexedTech:
    """What the index needs to place a technician."""

    id: int
    lat: float
    lng: float
    status: str
    capabilities: frozenset[str] = field(default_factory=frozenset)
    ts: float = 0.0


@dataclass(frozen=True)
class Candidate:
    technician_id: int
    lat: float
    lng: float
    distance_km: float
    eta_minutes: float
    status: str
    capabilities: frozenset[str]


@dataclass(frozen=True)
class CellAnswer:
    """What one cell gave: the eligible members (checked against the authority), how many members
    the cell returned before filtering, and the distance of the farthest one returned."""

    eligible: list[Snapshot]
    returned: int
    last_km: float


class CellSource(Protocol):
    """What the search reads: nearest members per cell, and the authority for ids."""

    fine_res: int
    coarse_res: int

    def nearest_in_cells(
        self, cells: list[str], lat: float, lng: float, count: int
    ) -> dict[str, list[tuple[int, float]]]:
        """For each cell (fine or coarse), up to `count` (id, km) pairs nearest to the point."""
        ...

    def snapshots(self, ids: list[int]) -> dict[int, Snapshot]: ...


class TechnicianIndex(CellSource, Protocol):
    def upsert(self, tech: IndexedTech) -> bool: ...
    def set_status(self, tech_id: int, status: str, expected: str | None = None) -> bool: ...
    def remove(self, tech_id: int) -> None: ...
    def nearest(self, lat: float, lng: float, n: int, f: TechFilter, now: float | None = None) -> list[Candidate]: ...


def eligible_from_members(
    source: CellSource, cells: list[str], lat: float, lng: float, count: int, f: TechFilter, now: float
) -> dict[str, CellAnswer]:
    """Each cell's eligible members, from nearest_in_cells + snapshots (membership checked against the authority)."""
    answers = source.nearest_in_cells(cells, lat, lng, count)
    ids = list({tid for members in answers.values() for tid, _ in members})
    snaps = source.snapshots(ids) if ids else {}
    out = {}
    for cell, members in answers.items():
        ok = []
        for tid, _km in members:
            s = snaps.get(tid)
            # Membership is trusted only when the authority agrees with the cell.
            if s is not None and cell in (s.cell, s.parent) and s.passes(f, now):
                ok.append(s)
        out[cell] = CellAnswer(ok, len(members), members[-1][1] if members else 0.0)
    return out
