"""The technician index in Redis: a hash per technician (the authority) and, per H3 level, a GEO
set per cell whose members are named `id|status|capabilities`.

Levels are the fine resolution and three coarser ones (7, 5, 4 and 3 by default): a technician
sits in exactly one cell of each level, and one Lua script moves all of them with the hash. The
fine set holds the exact position; a coarser level holds the centre of the technician's cell two
resolutions finer, so a ping writes one set unless the van crossed into another such cell.
Because a member's name carries its status and capabilities, a lookup filters without reading hashes;
it reads the hash only of the few nearest candidates, to check freshness, exact position and that
the cell agrees with the authority.

A lookup is one script call (a second one only beyond ~30 km). The client plans disks of cells,
fine first, with the distance each disk surely covers around the query point and a lower bound of
each cell's distance. The server doubles a search radius, starting where the local density says
about 2n technicians lie; each round reads the finest disk covering the radius, only the cells
that can hold anything that near, with `GEOSEARCH … BYRADIUS … COUNT`, and stops once n eligible
technicians lie within the radius. It reads at most ~100 cell keys, and because each `GEOSEARCH`
is bounded by the radius, its cost follows the local density, not the fleet size.

The Lua scripts and their argument formats are in `redis_scripts`, the cell geometry (disks, bounds,
centres, GEO scores) in `redis_cells`, the technician hash's fields in `redis_hash`.
"""

from __future__ import annotations

import re
import time
from collections.abc import Iterable

import h3
import numpy as np
import redis

from core.geo.eta import EtaModel, StraightLineEta
from core.index.base import Candidate, IndexedTech, Snapshot, TechFilter
from core.index.redis_cells import (
    area_km2,
    cell_part,
    centre_slack_km,
    disk,
    geo_holds,
    geo_score,
    lower_bounds_km,
    snap_res,
)
from core.index.redis_hash import FIELD_LIST, chunks, reply, snapshot
from core.index.redis_scripts import NEAREST, REMOVE, SET_STATUS, UPSERT_MANY
from core.index.search import SearchStats

# (level, disk radius k): the fine disk (~2 km), the middle level (~20 and ~30 km), resolution 4
# (~35-115 km), then resolution 3 until the cover reaches the filter's max_km. Every `GEOSEARCH`
# with a radius of a cell's size scans the whole cell, so the far steps use the smallest cells that
# keep a lookup near ~100 keys; resolution 3 only comes in where the fleet is sparse. The first call
# holds the fine and middle steps; most lookups end there.
_STEPS = ((0, 1), (1, 1), (1, 2), (2, 1), (2, 2), (2, 3), (3, 1), (3, 2), (3, 3), (3, 4), (3, 5))
_FIRST_CALL = 3
_NAME_OK = re.compile(r"^[A-Za-z0-9_\-]+$")
_CHECKED: set[str] = set()  # statuses and capability lists already found to be plain words


def _check_words(status: str, caps: Iterable[str]) -> None:
    """Names go into member strings `id|status|caps`: plain words only."""
    if (status and not _NAME_OK.match(status)) or not all(_NAME_OK.match(c) for c in caps):
        raise ValueError(f"status and capabilities must be plain words: {status!r} {sorted(caps)}")


_BUILT = "built:v5"  # bumped with the key layout, so an older layout is rebuilt at start


class RedisTechnicianIndex:
    """Single-node Redis (or one shard) holding the whole index."""

    def __init__(self, client: redis.Redis, prefix: str = "th:", fine_res: int = 7, coarse_res: int = 4, *,
                 eta: EtaModel | None = None) -> None:
        self.r = client
        self.eta = eta or StraightLineEta()  # the core's model, from bootstrap: candidates are ranked by it
        self.prefix = prefix
        self.fine_res = fine_res
        self.coarse_res = coarse_res  # the hash's `parent`, as the PostgreSQL fallback stores it
        self.levels = (fine_res, max(0, fine_res - 2), max(0, fine_res - 3), max(0, fine_res - 4))
        self._upsert_many = client.register_script(UPSERT_MANY)
        self._remove = client.register_script(REMOVE)
        self._set_status = client.register_script(SET_STATUS)
        self._nearest = client.register_script(NEAREST)
        # The coarse levels' slack bounds (about a second of H3 work per process, cached): at start-up
        # rather than inside the first position report or the first rebuild.
        for lv in self.levels[1:]:
            centre_slack_km(snap_res(lv, fine_res))

    # keys
    def _h(self, tech_id: int) -> str:
        return f"{self.prefix}t:{tech_id}"

    def _key(self, level: int, cell: str) -> str:
        return f"{self.prefix}g{level}:{cell}"

    # writes
    def _line(self, t: IndexedTech, keep_status: bool, keep_caps: bool) -> str:
        cell = h3.latlng_to_cell(t.lat, t.lng, self.fine_res)
        status = "" if keep_status else t.status
        caps = "*" if keep_caps else ",".join(sorted(t.capabilities))
        if status not in _CHECKED or (caps not in _CHECKED and not keep_caps):
            _check_words(status, t.capabilities)
            _CHECKED.add(status)
            if not keep_caps:
                _CHECKED.add(caps)
        tail = cell_part(self.levels, self.coarse_res, cell)
        return f"{t.id} {t.lat!r} {t.lng!r} {geo_score(t.lat, t.lng)} {status} {caps} {t.ts or time.time()!r} {tail}"

    def upsert(self, tech: IndexedTech, keep_status: bool = False, keep_caps: bool = False) -> bool:
        """Place or move a technician atomically; an older position than the stored one is ignored,
        and so is one Redis GEO sets cannot hold (beyond 85.05 degrees: a GPS glitch), whose
        technician then ages out of the freshness filter."""
        if not geo_holds(tech.lat, tech.lng):
            return False
        line = self._line(tech, keep_status, keep_caps)
        return bool(self._upsert_many(keys=[self._h(tech.id)], args=[self.prefix, line]))

    def upsert_many(self, techs: Iterable[IndexedTech], keep_status: bool = False, batch: int = 500) -> int:
        """Many upserts, one script call per batch, each atomic as in `upsert`. Batches are pipelined
        on one connection: the next one is prepared while Redis runs the one before."""
        sent: list[str] = []  # batches sent and not yet answered, oldest first
        done = 0
        conn = self.r.connection_pool.get_connection()
        try:
            for chunk in chunks(techs, batch):
                lines = [self._line(t, keep_status, False) for t in chunk if geo_holds(t.lat, t.lng)]
                if not lines:
                    continue
                sent.append("\n".join(lines))
                conn.send_command(  # type: ignore[no-untyped-call]  # redis-py leaves Connection.send_command bare
                    "EVALSHA", self._upsert_many.sha, 0, self.prefix, sent[-1])
                if len(sent) > 1:
                    done += self._answer(conn, sent)
            while sent:
                done += self._answer(conn, sent)
        except BaseException:
            # Replies may be left unread: never hand this connection out as is.
            conn.disconnect()  # type: ignore[no-untyped-call]  # redis-py leaves Connection.disconnect bare
            raise
        finally:
            self.r.connection_pool.release(conn)
        return done

    def _answer(self, conn: redis.connection.ConnectionInterface, sent: list[str]) -> int:
        """The reply to the oldest batch; one Redis does not know the script for is run as a plain EVAL."""
        lines = sent.pop(0)
        try:
            return int(conn.read_response())  # type: ignore[no-untyped-call]  # redis-py leaves it bare
        except redis.exceptions.NoScriptError:
            return int(reply(self.r.eval(UPSERT_MANY, 0, self.prefix, lines)))

    def set_status(self, tech_id: int, status: str, expected: str | None = None) -> bool:
        """Set the status; with `expected`, only if the current status is that (compare-and-set)."""
        if not _NAME_OK.match(status):
            raise ValueError(f"status must be a plain word: {status!r}")
        return bool(self._set_status(keys=[self._h(tech_id)], args=[status, expected or "", tech_id, self.prefix]) == 1)

    def remove(self, tech_id: int) -> None:
        self._remove(keys=[self._h(tech_id)], args=[self.prefix, tech_id])

    def clear(self) -> None:
        """Delete every key of this index (prefix-scoped)."""
        for batch in chunks(self.r.scan_iter(match=f"{self.prefix}*", count=5000), 5000):
            self.r.unlink(*batch)

    def rebuild(self, techs: Iterable[IndexedTech], unless_built_after: float | None = None) -> int:
        """Replace the index content with `techs` (from PostgreSQL, the source of truth).

        One process at a time (a Redis lock outside the index's keys): two rebuilds interleaving
        their clears and writes would leave the head counts short, and a lookup trusts them to skip
        a search. With `unless_built_after`, a rebuild that another process finished after that
        moment (workers starting together, say) is taken as this one's."""
        # Held for a minute at a time and renewed while the rebuild makes progress, so a process
        # that died mid-rebuild holds up the others for a minute at most.
        lock = self.r.lock(f"{self.prefix.rstrip(':')}-rebuild", timeout=60, blocking_timeout=300)
        with lock:
            if unless_built_after is not None:
                done = reply(self.r.get(f"{self.prefix}{_BUILT}"))
                if done is not None and float(done) >= unless_built_after:
                    return 0
            self.clear()
            n = 0
            for chunk in chunks(techs, 2000):
                n += self.upsert_many(chunk)
                lock.extend(60, replace_ttl=True)
            self.r.set(f"{self.prefix}{_BUILT}", repr(time.time()))
            return n

    def is_built(self) -> bool:
        """False after Redis lost its data (restart without persistence, flush) or holds an older layout."""
        return bool(self.r.exists(f"{self.prefix}{_BUILT}"))

    # reads
    def _plan(self, lat: float, lng: float, max_km: float,
              steps: tuple[tuple[int, int], ...]) -> tuple[list[str], float]:
        """One string per search step: the distance its disk surely covers around the point (m),
        the key prefix, and each cell with a lower bound of its distance (m), nearest first."""
        fine = h3.latlng_to_cell(lat, lng, self.fine_res)
        disks = [(li, disk(fine if li == 0 else h3.cell_to_parent(fine, self.levels[li]), k, li == 0))
                 for li, k in steps]
        gaps = lower_bounds_km(lat, lng, np.concatenate([d[1] for _, d in disks]),
                               np.concatenate([d[2] for _, d in disks]), np.concatenate([d[3] for _, d in disks]))
        out: list[str] = []
        best = -1.0
        at = 0
        for li, (cells, _, _, reach, n_in) in disks:
            g = gaps[at:at + len(reach)]
            at += len(reach)
            cover = float(g[n_in:].min())
            if cover <= best:
                continue  # covers no more than the step before
            best = cover
            lbs = np.maximum(g[:n_in], 0.0)
            order = np.argsort(lbs, kind="stable")
            metres = np.floor(lbs * 1000.0).astype(np.int64).tolist()
            slack = "0" if li == 0 else repr(centre_slack_km(snap_res(self.levels[li], self.fine_res)))
            parts = [str(int(cover * 1000.0)), f"{self.prefix}g{self.levels[li]}:", slack,
                     "4" if li == 3 else "2", "1" if li >= 2 else "0"]
            for i in order[:int(np.searchsorted(lbs[order], cover, side="right"))].tolist():
                parts += (cells[i], str(metres[i]))  # farther than the cover: the step never reads it
            out.append(" ".join(parts))
            if cover >= max_km:
                break
        return out, best

    def nearest(
        self, lat: float, lng: float, n: int, f: TechFilter, now: float | None = None,
        stats: SearchStats | None = None,
    ) -> list[Candidate]:
        """The n eligible technicians nearest to (lat, lng), ranked by ETA; exact."""
        if n <= 0:
            return []
        now = time.time() if now is None else now
        common = "\t".join([repr(lng), repr(lat), str(n), ",".join(sorted(f.statuses)),
                            ",".join(sorted(f.capabilities)), ",".join(str(i) for i in f.exclude), repr(now),
                            repr(f.max_age_s), repr(f.max_km), self.prefix])
        rows = b""
        start = 0.0
        for steps, last in ((_STEPS[:_FIRST_CALL], False), (_STEPS[_FIRST_CALL:], True)):
            plan, reach = self._plan(lat, lng, f.max_km, steps)
            last = last or reach >= f.max_km
            probe = "-"
            if start == 0.0:
                mid = h3.cell_to_parent(h3.latlng_to_cell(lat, lng, self.fine_res), self.levels[1])
                probe = f"{self.prefix}g{self.levels[1]}:{mid} {area_km2(mid)!r}"
            head = f"{common}\t{int(last)}\t{start!r}\t{probe}"
            done, reads, reached, rows = self._nearest(keys=[], args=[head, "\n".join(plan)])
            if stats is not None:
                stats.round_trips += 1
                stats.cells_read += int(reads)
            if done:
                break
            start = float(reached) * 2
        out = []
        text = rows.decode() if isinstance(rows, bytes) else rows
        for row in text.split(";") if text else ():
            tid, la_text, lo_text, status, caps, _ts, km = row.split(" ")
            la, lo = float(la_text), float(lo_text)
            out.append(Candidate(int(tid), la, lo, float(km), self.eta.eta_minutes(la, lo, lat, lng),
                                 status, frozenset(c for c in caps.split(",") if c)))
        out.sort(key=lambda c: (c.eta_minutes, c.distance_km, c.technician_id))
        return out

    def snapshots(self, ids: list[int]) -> dict[int, Snapshot]:
        pipe = self.r.pipeline(transaction=False)
        for i in ids:
            pipe.hmget(self._h(i), FIELD_LIST)
        out = {}
        for i, vals in zip(ids, pipe.execute(), strict=True):
            if vals[0] is None:
                continue
            out[i] = snapshot(i, vals)
        return out

    def get(self, tech_id: int) -> Snapshot | None:
        vals = reply(self.r.hmget(self._h(tech_id), FIELD_LIST))
        return None if vals[0] is None else snapshot(tech_id, vals)

    def memberships(self, tech_id: int) -> list[tuple[int, str, str]]:
        """(level, cell, member name) of every cell set holding the id. Scans: for checks and repair."""
        found = []
        for lv in self.levels:
            for key in self.r.scan_iter(match=f"{self.prefix}g{lv}:*", count=5000):
                if key.endswith(b":n"):
                    continue  # the cell's head counts
                for member, _ in self.r.zscan_iter(key, match=f"{tech_id}|*"):
                    found.append((lv, key.decode().rsplit(":", 1)[1], member.decode()))
        return sorted(found)

    def cell_memberships(self, tech_id: int) -> list[str]:
        """Every fine cell set holding the id."""
        return [cell for lv, cell, _ in self.memberships(tech_id) if lv == self.fine_res]


