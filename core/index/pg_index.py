"""The same H3 search over the technicians' cell columns in PostgreSQL: used when Redis is
unreachable. Slower, never wrong: the rows are the source of truth."""

from __future__ import annotations

import time
from datetime import UTC, datetime

import h3
import sqlalchemy as sa

from core.geo.eta import EtaModel, StraightLineEta
from core.geo.sphere import haversine_km
from core.index.base import Candidate, Snapshot, TechFilter
from core.index.search import SearchStats, search_nearest

_SQL = sa.text(
    """
    SELECT id, lat, lng, h3_cell, h3_parent, status, capabilities, position_at
    FROM technician
    WHERE active AND lat IS NOT NULL
      AND (h3_cell = ANY(:cells) OR h3_parent = ANY(:cells))
      AND status = ANY(:statuses)
      AND position_at >= :fresh_after
    """
)


class PostgresTechnicianIndex:
    """Read side of the index over PostgreSQL; writes happen on the technician rows themselves."""

    def __init__(
        self, engine: sa.Engine, fine_res: int = 7, coarse_res: int = 4, *, eta: EtaModel | None = None
    ) -> None:
        self.engine = engine
        self.eta = eta or StraightLineEta()  # the core's model, from bootstrap: candidates are ranked by it
        self.fine_res = fine_res
        self.coarse_res = coarse_res

    def nearest(
        self, lat: float, lng: float, n: int, f: TechFilter, now: float | None = None,
        stats: SearchStats | None = None,
    ) -> list[Candidate]:
        now = time.time() if now is None else now
        return search_nearest(_PgSearch(self, f, now), lat, lng, n, f, self.eta, now=now, stats=stats)


class _PgSearch:
    """One search: the filter narrows the SQL and the rows read serve as snapshots."""

    def __init__(self, index: PostgresTechnicianIndex, f: TechFilter, now: float) -> None:
        self.engine = index.engine
        self.fine_res = index.fine_res
        self.coarse_res = index.coarse_res
        self._filter = f
        self._now = now
        self._rows: dict[int, Snapshot] = {}

    def nearest_in_cells(
        self, cells: list[str], lat: float, lng: float, count: int
    ) -> dict[str, list[tuple[int, float]]]:
        f = self._filter
        fresh_after = datetime.fromtimestamp(self._now - f.max_age_s, UTC)
        with self.engine.connect() as c:
            rows = c.execute(_SQL, {"cells": cells, "statuses": sorted(f.statuses), "fresh_after": fresh_after})
            out: dict[str, list[tuple[int, float]]] = {cell: [] for cell in cells}
            for r in rows:
                snap = Snapshot(
                    r.id, r.lat, r.lng, r.h3_cell, r.h3_parent, r.status, frozenset(r.capabilities),
                    r.position_at.timestamp(),
                )
                self._rows[r.id] = snap
                km = haversine_km(lat, lng, r.lat, r.lng)
                for cell in (r.h3_cell, r.h3_parent):
                    if cell in out:
                        out[cell].append((r.id, km))
        for cell in out:
            out[cell] = sorted(out[cell], key=lambda m: m[1])[:count]
        return out

    def snapshots(self, ids: list[int]) -> dict[int, Snapshot]:
        return {i: self._rows[i] for i in ids if i in self._rows}


def cells_for(lat: float, lng: float, fine_res: int, coarse_res: int) -> tuple[str, str]:
    """The fine cell and coarse parent stored on a technician row."""
    cell = h3.latlng_to_cell(lat, lng, fine_res)
    return cell, h3.cell_to_parent(cell, coarse_res)
