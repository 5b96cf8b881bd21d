"""The technician index on a Redis Cluster: keys hash-tagged by the coarse H3 parent.

Layout (prefix ``th:``; the hash tag is the part inside the first ``{...}``):

* ``th:t:{<id>}``              the technician hash, the authority (its own slot, by id):
                               lat, lng, cell, parent, status, caps, ts, and ``w`` = the
                               write id (owner token) of the membership it points at.
* ``th:{<parent>}:c:<cell>``   GEO set of one fine cell, in the slot of its coarse parent.
* ``th:{<parent>}:p:<parent>`` GEO set of the coarse parent, same slot.
* ``th:{<parent>}:m``          membership records of that neighbourhood, same slot: field
                               ``<id>`` -> ``cell,ts,owner,wall,lng,lat;...``, one entry per
                               fine cell the id is in there (normally one).

Every key of a neighbourhood shares one slot, so a neighbourhood's sets and records change
atomically in one Lua script; the hash lives elsewhere, so a move that changes the hash
cannot be one script. The move protocol, for a write with a fresh random owner token W
and position time T:

1. ADD (Lua, new parent's slot): GEOADD the id to the new fine cell and new parent set and
   record ``cell -> (T, W, wall clock)``. Refused (the write is dropped, returns False) when
   that cell's entry already has a newer T.
2. COMMIT (Lua CAS, the hash's slot): refuse when the hash holds a newer ts; otherwise
   write position, cell, parent, ts and ``w = W``, and return the previous cell, parent and
   owner. A refused write undoes its own step 1 (DROP of its cell, owner W).
3. DROP (Lua, old parent's slot): remove the id from the old cell only if that cell's
   entry is still owned by the previous owner; when the id has no entry left in the
   neighbourhood, remove it from the parent set too (else the parent set takes the
   position of its newest remaining entry). Skipped when the cell did not change.

The hash is authoritative and a membership is only ever removed by its owner's successor
(step 3), by its own failed write, by ``remove`` of the owner, or by ``repair``. So a crash
between steps leaves at most a stale extra membership, which readers ignore because the
shared search (``search.py``) trusts a membership only when the hash names that cell or
parent. It never hides a technician: the new membership exists before the hash points at
it, and nobody can take it away while the hash still names its owner. Concurrent writers
for one technician are ordered by the hash's ts CAS (ties: last writer wins); ownership
tokens make the cleanup of the loser and of the old cell safe whatever the interleaving.
In the crash window the GEO position of a membership may be newer than the hash's (a
write that added to the same cell but never committed), which can only make the ranking
inexact for that technician until its next position; the candidates returned always
carry the hash's position.

Reads: ``nearest`` runs the shared ``search_nearest`` over a per-search view
(``_CheckedCells``) that checks each membership against the hash right after the GEO
read, so a stale membership read in the same batch as the true one cannot mask it.
``nearest_in_cells`` pipelines one single-key GEOSEARCH per cell (ordered by slot; redis-py
sends each node its share), ``snapshots`` pipelines one HMGET per id.

``repair()`` scans the cell and parent sets and the records, removes memberships whose
hash names another cell (or no longer exists) once their write is older than a grace
period (younger ones may be writes in flight), and re-adds technicians whose hash names a
cell that lacks them (e.g. a master lost its data while the hash's master did not).

Redis Cluster errors that are not ``redis.RedisError`` (``RedisClusterException``:
no reachable node, slot not covered) are raised as ``redis.ConnectionError`` so that
``FailoverTechnicianIndex`` falls back to PostgreSQL as it does for a single node.

The Lua scripts are in ``cluster_scripts``. The class stays whole (~450 lines): the move protocol's
three steps, their undo and ``repair`` are one invariant, and reading them apart would hide it.
"""

from __future__ import annotations

import functools
import hashlib
import re
import secrets
import threading
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any, ParamSpec, TypeVar

import h3
import redis
from redis.cluster import ClusterPipeline, RedisCluster
from redis.exceptions import NoScriptError, RedisClusterException

from core.geo.eta import EtaModel, StraightLineEta
from core.index.base import Candidate, IndexedTech, Snapshot, TechFilter
from core.index.cluster_scripts import ADD, COMMIT, DROP, REMOVE, SET_STATUS
from core.index.redis_hash import FIELD_LIST, chunks, reply, snapshot
from core.index.search import SearchStats, search_nearest

_KEY_RE = re.compile(r"\{([^}]*)\}:(c|p|m)(?::(.*))?$")

_P = ParamSpec("_P")
_R = TypeVar("_R")


class _Script:
    def __init__(self, text: str) -> None:
        self.text = text
        self.sha = hashlib.sha1(text.encode()).hexdigest()


@dataclass(frozen=True)
class _Write:
    """One upsert, prepared: what the three steps need."""

    id: int
    lat: str
    lng: str
    cell: str
    parent: str
    status: str  # '' keeps the stored one
    caps: str  # '*' keeps the stored ones
    ts: str
    owner: str


@dataclass(frozen=True)
class _Entry:
    cell: str
    ts: float
    owner: str
    wall: float


_Call = tuple[_Script, list[str], list[Any]]


def _cluster_errors_as_redis_errors(fn: Callable[_P, _R]) -> Callable[_P, _R]:
    """RedisClusterException is not a RedisError; callers (the failover) catch RedisError."""

    @functools.wraps(fn)
    def wrapper(*args: _P.args, **kwargs: _P.kwargs) -> _R:
        try:
            return fn(*args, **kwargs)
        except RedisClusterException as e:
            raise redis.exceptions.ConnectionError(f"Redis Cluster: {e}") from e

    return wrapper


def _glob_escape(s: str) -> str:
    return re.sub(r"([*?\[\]\\])", r"\\\1", s)


class RedisClusterTechnicianIndex:
    """The index sharded over a Redis Cluster by coarse H3 neighbourhood.

    `client` is a RedisCluster, or a function making one (called on first use, so that an
    unreachable cluster at start-up is a RedisError of the first call, not a crash).
    """

    scripts = {name: _Script(text) for name, text in
               {"add": ADD, "drop": DROP, "commit": COMMIT, "remove": REMOVE, "set_status": SET_STATUS}.items()}

    def __init__(
        self,
        client: RedisCluster | Callable[[], RedisCluster],
        prefix: str = "th:",
        fine_res: int = 7,
        coarse_res: int = 4,
        *,
        eta: EtaModel | None = None,
    ) -> None:
        if "{" in prefix or "}" in prefix:
            raise ValueError("the key prefix must not contain braces (they delimit the hash tag)")
        self._client = client if isinstance(client, RedisCluster) else None
        self._factory = None if isinstance(client, RedisCluster) else client
        self._lock = threading.Lock()
        self.prefix = prefix
        self.fine_res = fine_res
        self.coarse_res = coarse_res
        self.eta = eta or StraightLineEta()  # the core's model, from bootstrap: candidates are ranked by it

    @property
    def r(self) -> RedisCluster:
        if self._client is None:
            with self._lock:
                if self._client is None:
                    assert self._factory is not None
                    self._client = self._factory()
        return self._client

    def _command(self, *args: Any) -> Any:
        """One command, routed by its first key."""
        return self.r.execute_command(*args)  # type: ignore[no-untyped-call]  # RedisCluster leaves it bare

    def _pipeline(self) -> ClusterPipeline:
        """A pipeline without MULTI (redis-py splits it by node)."""
        pipe: ClusterPipeline = self.r.pipeline(  # type: ignore[no-untyped-call]  # RedisCluster leaves it bare
            transaction=False)
        return pipe

    def close(self) -> None:
        """Close the cluster client's connections (if it was ever made)."""
        if self._client is not None:
            self._client.close()

    # keys
    def _h(self, tech_id: int) -> str:
        return f"{self.prefix}t:{{{tech_id}}}"

    def _fine_key(self, cell: str, parent: str) -> str:
        return f"{self.prefix}{{{parent}}}:c:{cell}"

    def _parent_key(self, parent: str) -> str:
        return f"{self.prefix}{{{parent}}}:p:{parent}"

    def _records_key(self, parent: str) -> str:
        return f"{self.prefix}{{{parent}}}:m"

    def _parent_of(self, cell: str) -> str:
        return _parent(cell, self.coarse_res)

    def _cell_key(self, cell: str) -> str:
        """The GEO set of a fine or coarse cell."""
        if h3.get_resolution(cell) == self.fine_res:
            return self._fine_key(cell, self._parent_of(cell))
        return self._parent_key(cell)

    def neighbourhood_keys(self, cell: str) -> list[str]:
        """The keys a move into this fine cell touches in one script (all in one slot)."""
        parent = self._parent_of(cell)
        return [self._fine_key(cell, parent), self._parent_key(parent), self._records_key(parent)]

    # scripts
    def _load_scripts(self) -> None:
        for s in self.scripts.values():
            self.r.script_load(s.text)  # sent to every primary

    def _eval(self, call: _Call) -> Any:
        script, keys, args = call
        try:
            return self._command("EVALSHA", script.sha, len(keys), *keys, *args)
        except NoScriptError:
            self._load_scripts()
            return self._command("EVALSHA", script.sha, len(keys), *keys, *args)

    def _eval_many(self, calls: list[_Call]) -> list[Any]:
        """Scripts pipelined; redis-py routes each (single-slot) call to its node."""
        if len(calls) <= 1:
            return [self._eval(c) for c in calls]
        out = self._pipelined(calls)
        again = [i for i, x in enumerate(out) if isinstance(x, NoScriptError)]
        if again:
            self._load_scripts()
            for i, x in zip(again, self._pipelined([calls[i] for i in again]), strict=True):
                out[i] = x
        for x in out:
            if isinstance(x, Exception):
                raise x
        return out

    def _pipelined(self, calls: list[_Call]) -> list[Any]:
        pipe = self._pipeline()
        for script, keys, args in calls:
            # pipe.evalsha is blocked in cluster pipelines; the raw command is routed by its first key.
            pipe.execute_command(  # type: ignore[no-untyped-call]  # ClusterPipeline leaves it bare
                "EVALSHA", script.sha, len(keys), *keys, *args)
        return pipe.execute(raise_on_error=False)

    # the three steps of a write (private; tests call them to simulate crashes)
    def _prepare(self, tech: IndexedTech, keep_status: bool = False, keep_caps: bool = False) -> _Write:
        cell = h3.latlng_to_cell(tech.lat, tech.lng, self.fine_res)
        return _Write(
            id=tech.id, lat=repr(tech.lat), lng=repr(tech.lng), cell=cell, parent=self._parent_of(cell),
            status="" if keep_status else tech.status,
            caps="*" if keep_caps else ",".join(sorted(tech.capabilities)),
            ts=repr(tech.ts or time.time()), owner=secrets.token_hex(8),
        )

    def _add_call(self, w: _Write) -> _Call:
        keys = [self._fine_key(w.cell, w.parent), self._parent_key(w.parent), self._records_key(w.parent)]
        return self.scripts["add"], keys, [w.id, w.lng, w.lat, w.ts, w.owner, repr(time.time()), w.cell]

    def _commit_call(self, w: _Write) -> _Call:
        return (self.scripts["commit"], [self._h(w.id)],
                [w.lat, w.lng, w.cell, w.parent, w.status, w.caps, w.ts, w.owner])

    def _drop_call(self, tech_id: int, cell: str, parent: str, owner: str) -> _Call:
        keys = [self._fine_key(cell, parent), self._parent_key(parent), self._records_key(parent)]
        return self.scripts["drop"], keys, [tech_id, cell, owner]

    def _step_add(self, w: _Write) -> bool:
        return bool(self._eval(self._add_call(w)) == 1)

    def _step_commit(self, w: _Write) -> tuple[str, str, str] | None:
        """None when refused (older ts); else the previous (cell, parent, owner), '' when new."""
        return _commit_result(self._eval(self._commit_call(w)))

    def _step_drop(self, tech_id: int, cell: str, parent: str, owner: str) -> bool:
        return bool(self._eval(self._drop_call(tech_id, cell, parent, owner)) == 1)

    def _apply(self, writes: list[_Write]) -> int:
        added = self._eval_many([self._add_call(w) for w in writes])
        placed = [w for w, ok in zip(writes, added, strict=True) if ok == 1]
        committed = self._eval_many([self._commit_call(w) for w in placed])
        drops: list[_Call] = []
        n = 0
        for w, res in zip(placed, committed, strict=True):
            old = _commit_result(res)
            if old is None:  # an older position: undo our own membership
                drops.append(self._drop_call(w.id, w.cell, w.parent, w.owner))
                continue
            n += 1
            old_cell, old_parent, old_owner = old
            if old_cell and (old_cell, old_parent) != (w.cell, w.parent):
                drops.append(self._drop_call(w.id, old_cell, old_parent, old_owner))
        self._eval_many(drops)
        return n

    # writes
    @_cluster_errors_as_redis_errors
    def upsert(self, tech: IndexedTech, keep_status: bool = False, keep_caps: bool = False) -> bool:
        """Place or move a technician; an older position than the stored one is ignored."""
        return self._apply([self._prepare(tech, keep_status, keep_caps)]) == 1

    @_cluster_errors_as_redis_errors
    def upsert_many(self, techs: Iterable[IndexedTech], keep_status: bool = False) -> int:
        """Pipelined upserts (ingest of position batches): three pipelined rounds in all."""
        return self._apply([self._prepare(t, keep_status, keep_status) for t in techs])

    @_cluster_errors_as_redis_errors
    def set_status(self, tech_id: int, status: str, expected: str | None = None) -> bool:
        """Set the status; with `expected`, only if the current status is that (compare-and-set)."""
        return bool(self._eval((self.scripts["set_status"], [self._h(tech_id)], [status, expected or ""])) == 1)

    @_cluster_errors_as_redis_errors
    def remove(self, tech_id: int) -> None:
        """Delete the hash (the technician is gone for readers), then its membership."""
        cell, parent, owner = (v.decode() for v in self._eval((self.scripts["remove"], [self._h(tech_id)], [])))
        if cell and parent:
            self._step_drop(tech_id, cell, parent, owner)

    @_cluster_errors_as_redis_errors
    def clear(self) -> None:
        """Delete every key of this index (prefix-scoped) on every master."""
        for batch in chunks(self.r.scan_iter(match=f"{_glob_escape(self.prefix)}*", count=5000), 2000):
            self.r.unlink(*batch)  # split by slot and pipelined by redis-py

    @_cluster_errors_as_redis_errors
    def rebuild(self, techs: Iterable[IndexedTech], unless_built_after: float | None = None) -> int:
        """Replace the index content with `techs` (from PostgreSQL, the source of truth). It keeps no
        head counts and checks each member against its hash, so concurrent rebuilds need no lock here."""
        self.clear()
        n = 0
        for chunk in chunks(techs, 2000):
            n += self.upsert_many(chunk)
        markers = self._marker_keys()
        for key in markers:
            self.r.set(key, repr(time.time()))
        self.r.set(f"{self.prefix}built", " ".join(markers))
        return n

    def _marker_keys(self) -> list[str]:
        """One key per master, so that any master losing its data unsets `is_built`."""
        primaries = {n.name for n in self.r.get_primaries()}  # type: ignore[no-untyped-call]  # redis-py: bare
        keys: dict[str, str] = {}
        i = 0
        while primaries - keys.keys() and i < 100_000:
            key = f"{self.prefix}built:{{b{i}}}"
            node = self.r.get_node_from_key(key)  # type: ignore[no-untyped-call]  # redis-py leaves it bare
            keys.setdefault(node.name, key)
            i += 1
        return sorted(keys.values())

    @_cluster_errors_as_redis_errors
    def is_built(self) -> bool:
        """False after any master lost its data (restart without persistence, flush)."""
        markers = reply(self.r.get(f"{self.prefix}built"))
        if markers is None:
            return False
        keys = markers.decode().split()
        return not keys or self.r.exists(*keys) == len(keys)

    # reads
    @_cluster_errors_as_redis_errors
    def nearest_in_cells(
        self, cells: list[str], lat: float, lng: float, count: int
    ) -> dict[str, list[tuple[int, float]]]:
        # Grouped by slot (a neighbourhood's cells are adjacent), one GEOSEARCH per cell.
        keyed = sorted(((self._cell_key(c), c) for c in cells), key=lambda kc: _tag(kc[0]))
        args = ("FROMLONLAT", lng, lat, "BYRADIUS", 20000, "km", "ASC", "COUNT", count, "WITHDIST")
        if len(keyed) == 1:
            results = [self._command("GEOSEARCH", keyed[0][0], *args)]
        else:
            pipe = self._pipeline()
            for key, _c in keyed:
                pipe.execute_command("GEOSEARCH", key, *args)  # type: ignore[no-untyped-call]  # as above
            results = pipe.execute()
        return {c: [(int(m), float(d)) for m, d in rows] for (_k, c), rows in zip(keyed, results, strict=True)}

    @_cluster_errors_as_redis_errors
    def snapshots(self, ids: list[int]) -> dict[int, Snapshot]:
        if len(ids) == 1:
            rows = [reply(self.r.hmget(self._h(ids[0]), FIELD_LIST))]
        else:
            pipe = self._pipeline()
            for i in ids:
                pipe.hmget(self._h(i), FIELD_LIST)
            rows = pipe.execute()
        return {i: snapshot(i, vals) for i, vals in zip(ids, rows, strict=True) if vals[0] is not None}

    @_cluster_errors_as_redis_errors
    def get(self, tech_id: int) -> Snapshot | None:
        vals = reply(self.r.hmget(self._h(tech_id), FIELD_LIST))
        return None if vals[0] is None else snapshot(tech_id, vals)

    @_cluster_errors_as_redis_errors
    def nearest(
        self, lat: float, lng: float, n: int, f: TechFilter, now: float | None = None,
        stats: SearchStats | None = None,
    ) -> list[Candidate]:
        return search_nearest(_CheckedCells(self), lat, lng, n, f, self.eta, now=now, stats=stats)

    # checks and repair (scan every master: not for the hot path)
    def _scan(self, kind: str) -> list[tuple[str, str, str]]:
        """(key, parent, cell) of every fine-cell ('c'), parent ('p') or records ('m') key."""
        out = []
        for raw in self.r.scan_iter(match=f"{_glob_escape(self.prefix)}{{*}}:{kind}*", count=5000):
            key = raw.decode()
            m = _KEY_RE.match(key[len(self.prefix):])
            if m and m.group(2) == kind:
                out.append((key, m.group(1), m.group(3) or ""))
        return out

    @_cluster_errors_as_redis_errors
    def cell_memberships(self, tech_id: int) -> list[str]:
        """Every fine cell set holding the id."""
        keys = self._scan("c")
        pipe = self._pipeline()
        for key, _p, _c in keys:
            pipe.zscore(key, tech_id)
        return sorted(c for (_k, _p, c), s in zip(keys, pipe.execute(), strict=True) if s is not None)

    @_cluster_errors_as_redis_errors
    def parent_memberships(self, tech_id: int) -> list[str]:
        """Every coarse parent set holding the id."""
        keys = self._scan("p")
        pipe = self._pipeline()
        for key, _p, _c in keys:
            pipe.zscore(key, tech_id)
        return sorted(p for (_k, p, _c), s in zip(keys, pipe.execute(), strict=True) if s is not None)

    @_cluster_errors_as_redis_errors
    def repair(self, grace_s: float = 30.0) -> dict[str, int]:
        """Remove memberships the hash disagrees with, re-add missing ones; returns the counts.

        A membership the hash disagrees with may be a write between its ADD and its COMMIT,
        so it is removed only once its ADD is `grace_s` old (wall clock of the writer; keep
        `grace_s` well above the duration of a write and the clock skew between writers).
        Safe to run while writers run: each removal is conditional on the owner read.
        """
        now = time.time()
        records: dict[tuple[str, int], dict[str, _Entry]] = {}  # (parent, id) -> cell -> entry
        rkeys = self._scan("m")
        for (_k, parent, _c), fields in zip(rkeys, self._pipe(lambda p, k: p.hgetall(k), [k for k, _p, _c in rkeys]),
                                             strict=True):
            for tid, raw in fields.items():
                records[(parent, int(tid))] = _parse_records(raw.decode())
        fine = self._scan("c")
        members: dict[tuple[str, int], set[str]] = {}  # (parent, id) -> fine cells holding it
        for (_k, parent, cell), ids in zip(fine, self._pipe(lambda p, k: p.zrange(k, 0, -1),
                                                            [k for k, _p, _c in fine]), strict=True):
            for tid in ids:
                members.setdefault((parent, int(tid)), set()).add(cell)
        coarse = self._scan("p")
        in_parent: set[tuple[str, int]] = set()
        for (_k, parent, _c), ids in zip(coarse, self._pipe(lambda p, k: p.zrange(k, 0, -1),
                                                            [k for k, _p, _c in coarse]), strict=True):
            in_parent.update((parent, int(tid)) for tid in ids)
        ids = sorted({tid for _p, tid in members} | {tid for _p, tid in in_parent} | {tid for _p, tid in records})
        hashes: dict[int, tuple[str, str]] = {}
        rows = self._pipe(lambda p, k: p.hmget(k, "cell", "parent"), [self._h(i) for i in ids])
        for tid, vals in zip(ids, rows, strict=True):
            if vals[0] is not None and vals[1] is not None:
                hashes[tid] = (vals[0].decode(), vals[1].decode())

        drops: list[_Call] = []
        for (parent, tid), cells in members.items():
            for cell in cells:
                if hashes.get(tid) == (cell, parent):
                    continue
                entry = records.get((parent, tid), {}).get(cell)
                if entry is not None and now - entry.wall < grace_s:
                    continue  # maybe a write between its ADD and its COMMIT
                # The drop is conditional on the owner read here: a write since then is kept.
                drops.append(self._drop_call(tid, cell, parent, entry.owner if entry else ""))
        for parent, tid in in_parent:
            h = hashes.get(tid)
            if not records.get((parent, tid)) and not members.get((parent, tid)) and (h is None or h[1] != parent):
                drops.append(self._drop_call(tid, "", parent, ""))  # a parent member without record
        removed = sum(1 for r in self._eval_many(drops) if r == 1)
        readded = self._readd_missing()
        return {"removed": removed, "readded": readded}

    def _readd_missing(self) -> int:
        """Technicians whose hash names a cell that does not hold them (lost master): ADD again.

        A hash read just before a move may re-add its old cell: a stale extra membership,
        harmless, removed by the next repair.
        """
        hkeys = [raw.decode() for raw in self.r.scan_iter(match=f"{_glob_escape(self.prefix)}t:{{*}}", count=5000)]
        rows = self._pipe(lambda p, k: p.hmget(k, "lat", "lng", "cell", "parent", "ts", "w"), hkeys)
        placed = [(k, v) for k, v in zip(hkeys, rows, strict=True) if v[2] is not None and v[3] is not None]
        present = self._pipe(lambda p, kv: p.zscore(self._fine_key(kv[1][2].decode(), kv[1][3].decode()),
                                                    kv[0][len(self.prefix) + 3:-1]), placed)
        calls: list[_Call] = []
        for (key, v), score in zip(placed, present, strict=True):
            if score is not None:
                continue
            lat, lng, cell, parent, ts, owner = (x.decode() if x is not None else "" for x in v)
            w = _Write(int(key[len(self.prefix) + 3:-1]), lat, lng, cell, parent, "", "*", ts or "0", owner)
            calls.append(self._add_call(w))
        return sum(1 for r in self._eval_many(calls) if r == 1)

    def _pipe(self, queue: Callable[[Any, Any], Any], items: list[Any]) -> list[Any]:
        out: list[Any] = []
        for chunk in chunks(items, 2000):
            pipe = self._pipeline()
            for item in chunk:
                queue(pipe, item)
            out.extend(pipe.execute())
        return out


class _CheckedCells:
    """The index as one search reads it: every membership checked against the hash at once.

    A technician may sit in two cells for a moment (a stale extra membership, see the move
    protocol). The shared search keeps one cell per id and batch, so the stale one could mask
    the true one read in the same batch. Here the hashes of the ids a read returns are read
    right after it (the search would read them next anyway: same number of round trips), and a
    membership the hash disagrees with comes back as a placeholder id (negative, unknown to
    `snapshots`): the answer keeps its length and distances, so cut cells stay cut, and the
    search skips the placeholder.
    """

    def __init__(self, index: RedisClusterTechnicianIndex) -> None:
        self.index = index
        self.fine_res = index.fine_res
        self.coarse_res = index.coarse_res
        self.known: dict[int, Snapshot | None] = {}
        self._placeholders = 0

    def nearest_in_cells(
        self, cells: list[str], lat: float, lng: float, count: int
    ) -> dict[str, list[tuple[int, float]]]:
        answers = self.index.nearest_in_cells(cells, lat, lng, count)
        new = sorted({tid for rows in answers.values() for tid, _km in rows} - self.known.keys())
        if new:
            snaps = self.index.snapshots(new)
            self.known.update((tid, snaps.get(tid)) for tid in new)
        out = {}
        for cell, rows in answers.items():
            checked = []
            for tid, km in rows:
                s = self.known[tid]
                if s is None or cell not in (s.cell, s.parent):
                    self._placeholders -= 1
                    tid = self._placeholders
                checked.append((tid, km))
            out[cell] = checked
        return out

    def snapshots(self, ids: list[int]) -> dict[int, Snapshot]:
        return {i: s for i in ids if (s := self.known.get(i)) is not None}


@functools.lru_cache(maxsize=262_144)
def _parent(cell: str, res: int) -> str:
    parent: str = h3.cell_to_parent(cell, res)
    return parent


def _tag(key: str) -> str:
    return key[key.index("{") + 1 : key.index("}")]


def _commit_result(res: list[Any]) -> tuple[str, str, str] | None:
    if int(res[0]) != 1:
        return None
    cell, parent, owner = (v.decode() if isinstance(v, bytes) else str(v) for v in res[1:4])
    return cell, parent, owner


def _parse_records(raw: str) -> dict[str, _Entry]:
    out = {}
    for item in raw.split(";"):
        parts = item.split(",")
        if len(parts) == 6:
            out[parts[0]] = _Entry(parts[0], float(parts[1]), parts[2], float(parts[3]))
    return out
