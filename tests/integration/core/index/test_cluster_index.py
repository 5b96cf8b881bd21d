"""The technician index on a local 3-master Redis Cluster: exact nearest, slot layout, crash-safe moves."""

from __future__ import annotations

import math
import random
import secrets
import threading
import time
from collections.abc import Iterator

import h3
import pytest
import redis
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st
from redis.cluster import RedisCluster, key_slot

from core.geo.sphere import haversine_km
from core.index import Candidate, IndexedTech, TechFilter
from core.index.cluster_index import RedisClusterTechnicianIndex
from core.index.failover import FailoverTechnicianIndex
from tests.cluster import RedisClusterProcess
from tests.integration.core.index.test_redis_index import CAPS, brute_force, fleet_s, lat_s, lng_s
from tests.support.redis_server import free_port

NOW = 1_800_000_000.0
ANY_AGE = TechFilter(max_age_s=1e12)


# The key layout documented in core.index.cluster_index, read here straight from Redis.
def hash_key(prefix: str, tech_id: int) -> str:
    return f"{prefix}t:{{{tech_id}}}"


def cell_key(prefix: str, cell: str, parent: str) -> str:
    return f"{prefix}{{{parent}}}:c:{cell}"


def parent_key(prefix: str, parent: str) -> str:
    return f"{prefix}{{{parent}}}:p:{parent}"


class CrashAfter:
    """The real cluster client, except that every script call after the first `scripts` fails as if the
    process died there: what is left in Redis is what a crash between the steps of a write leaves."""

    def __init__(self, client: RedisCluster, scripts: int) -> None:
        self.client = client
        self.scripts_left = scripts

    def execute_command(self, *args: object, **kwargs: object) -> object:
        if args and args[0] == "EVALSHA":
            if self.scripts_left == 0:
                raise redis.ConnectionError("the writer crashed here")
            self.scripts_left -= 1
        return self.client.execute_command(*args, **kwargs)

    def __getattr__(self, name: str) -> object:
        return getattr(self.client, name)


@pytest.fixture(scope="module")
def cluster() -> Iterator[RedisClusterProcess]:
    with RedisClusterProcess() as c:
        yield c


@pytest.fixture(scope="module")
def rc(cluster: RedisClusterProcess) -> Iterator[RedisCluster]:
    client = cluster.client()
    yield client
    client.close()


@pytest.fixture
def idx(rc: RedisCluster) -> Iterator[RedisClusterTechnicianIndex]:
    index = RedisClusterTechnicianIndex(rc, prefix=f"test:{secrets.token_hex(4)}:")
    yield index
    index.clear()


# --- 1. nearest == brute force -------------------------------------------------------------

def _boundary_example(lat0: float, lng0: float, midpoints: bool) -> dict:
    """Queries exactly on a coarse (res 4) cell's vertices or edge midpoints, technicians on both sides."""
    cell = h3.latlng_to_cell(lat0, lng0, 4)
    verts = list(h3.cell_to_boundary(cell))
    if midpoints:
        verts = [((a[0] + b[0]) / 2, (a[1] + b[1]) / 2) for a, b in zip(verts, verts[1:] + verts[:1], strict=True)]
    clat, clng = h3.cell_to_latlng(cell)
    fleet, queries = [], []
    for k, (qlat, qlng) in enumerate(verts):
        dlat, dlng = clat - qlat, clng - qlng
        norm = math.hypot(dlat, dlng)
        ulat, ulng = dlat / norm, dlng / norm  # towards the centre; (-ulng, ulat) along the edge
        for d, (vlat, vlng) in [(0.004, (ulat, ulng)), (0.004, (-ulat, -ulng)), (0.02, (ulat, ulng)),
                                (0.02, (-ulat, -ulng)), (0.006, (-ulng, ulat)), (0.006, (ulng, -ulat))]:
            fleet.append((qlat + d * vlat, qlng + d * vlng, "available", set(), k * 7 % 90, False))
        if not midpoints:
            fleet.append((qlat, qlng, "available", set(), 0, False))  # on the vertex itself
        queries.append((qlat, qlng, 1 + k % 6, set()))
    return {"fleet": fleet, "queries": queries}


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(
    fleet=fleet_s,
    queries=st.lists(st.tuples(lat_s, lng_s, st.integers(1, 6), st.sets(st.sampled_from(CAPS), max_size=1)),
                     min_size=1, max_size=5),
)
@example(**_boundary_example(52.48, -1.89, midpoints=False))  # Birmingham
@example(**_boundary_example(52.48, -1.89, midpoints=True))
@example(**_boundary_example(51.51, -0.13, midpoints=False))  # London
@example(**_boundary_example(55.95, -3.19, midpoints=True))  # Edinburgh
def test_nearest_matches_brute_force(idx: RedisClusterTechnicianIndex, fleet, queries) -> None:
    idx.clear()
    techs = {}
    for i, (lat, lng, status, caps, age, clustered) in enumerate(fleet, start=1):
        if clustered:  # many technicians near Birmingham to exercise dense cells and cut answers
            lat, lng = 52.48 + (lat - 54) / 100, -1.89 + lng / 100
        techs[i] = IndexedTech(i, lat, lng, status, frozenset(caps), NOW - age)
    # One at a time and pipelined: both paths must place them the same way.
    half = len(techs) // 2
    for t in list(techs.values())[:half]:
        assert idx.upsert(t)
    assert idx.upsert_many(list(techs.values())[half:]) == len(techs) - half
    for lat, lng, n, caps in queries:
        f = TechFilter(capabilities=frozenset(caps))
        got = [c.technician_id for c in idx.nearest(lat, lng, n, f, now=NOW)]
        want = brute_force(techs, lat, lng, n, f, NOW)
        got_d = [round(haversine_km(lat, lng, techs[i].lat, techs[i].lng), 6) for i in got]
        want_d = [round(haversine_km(lat, lng, techs[i].lat, techs[i].lng), 6) for i in want]
        assert got_d == want_d, (got, want)


def test_boundary_queries_read_both_neighbourhoods(idx: RedisClusterTechnicianIndex) -> None:
    """The boundary fixtures really straddle parents that live in different slots."""
    ex = _boundary_example(52.48, -1.89, midpoints=True)
    parents = {h3.cell_to_parent(h3.latlng_to_cell(lat, lng, 7), 4) for lat, lng, *_ in ex["fleet"]}
    assert len(parents) >= 4
    assert len({key_slot(parent_key(idx.prefix, p).encode()) for p in parents}) == len(parents)


# --- 2. slots ------------------------------------------------------------------------------

def test_neighbourhood_keys_share_a_slot(idx: RedisClusterTechnicianIndex, rc: RedisCluster) -> None:
    for lat, lng in [(51.51, -0.13), (52.48, -1.89), (55.95, -3.19), (54.6, -5.93)]:
        cell = h3.latlng_to_cell(lat, lng, 7)
        parent = h3.cell_to_parent(cell, 4)
        keys = idx.neighbourhood_keys(cell)
        keys += [k for c in sorted(h3.cell_to_children(parent, 7))[:20] for k in idx.neighbourhood_keys(c)]
        slots = {key_slot(k.encode()) for k in keys}
        assert slots == {key_slot(parent.encode())}
        assert {rc.cluster_keyslot(k) for k in keys} == slots  # CLUSTER KEYSLOT agrees
        assert all(k.startswith(f"{idx.prefix}{{{parent}}}:") for k in keys)
    assert idx.upsert(IndexedTech(42, 52.48, -1.89, "available", ts=NOW))
    assert rc.exists(hash_key(idx.prefix, 42)) == 1, "the technician's hash is stored under its documented key"
    assert key_slot(hash_key(idx.prefix, 42).encode()) == key_slot(b"42"), "the hash has its own slot, by id"


def test_a_uk_fleet_uses_every_master(idx: RedisClusterTechnicianIndex, rc: RedisCluster) -> None:
    fleet = [IndexedTech(i, 50.2 + (i % 17) * 0.5, -5.4 + (i // 17) * 0.55, "available", ts=NOW)
             for i in range(17 * 13)]
    assert idx.upsert_many(fleet) == len(fleet)
    per_node = {}
    for node in rc.get_primaries():
        conn = rc.get_redis_connection(node)
        keys = [k.decode() for k in conn.scan_iter(match=f"{idx.prefix}*", count=1000)]
        per_node[node.name] = keys
        for k in keys:  # every key of the node hashes to a slot the node serves
            assert rc.get_node_from_key(k).name == node.name
    assert len(per_node) == 3
    assert all(any(":c:" in k for k in keys) for keys in per_node.values()), {n: len(k) for n, k in per_node.items()}
    assert all(any(":t:{" in k for k in keys) for keys in per_node.values())
    for t in random.Random(1).sample(fleet, 12):
        got = idx.nearest(t.lat, t.lng, 1, ANY_AGE, now=NOW)
        assert [c.technician_id for c in got] == [t.id]


# --- 3. a crash in the middle of a cross-parent move --------------------------------------

def _across_a_boundary() -> tuple[tuple[float, float], tuple[float, float]]:
    """Two points ~1.3 km apart on either side of a res-4 edge near Birmingham."""
    cell = h3.latlng_to_cell(52.48, -1.89, 4)
    (alat, alng), (blat, blng) = h3.cell_to_boundary(cell)[:2]
    mlat, mlng = (alat + blat) / 2, (alng + blng) / 2
    clat, clng = h3.cell_to_latlng(cell)
    norm = math.hypot(clat - mlat, clng - mlng)
    ulat, ulng = (clat - mlat) / norm, (clng - mlng) / norm
    return (mlat + 0.006 * ulat, mlng + 0.006 * ulng), (mlat - 0.006 * ulat, mlng - 0.006 * ulng)


def _once_at(cands: list[Candidate], tid: int, pos: tuple[float, float]) -> None:
    mine = [c for c in cands if c.technician_id == tid]
    assert len(mine) == 1, cands
    assert (mine[0].lat, mine[0].lng) == pos


@pytest.mark.parametrize("steps", ["add", "add+commit"])
def test_crash_in_a_cross_parent_move(idx: RedisClusterTechnicianIndex, rc: RedisCluster, steps: str) -> None:
    a, b = _across_a_boundary()
    old = IndexedTech(1, a[0], a[1], "available", ts=NOW - 10)
    others = [IndexedTech(10 + k, a[0] + 0.01 * (k - 3), b[1] + 0.013 * (k - 3), "available", ts=NOW)
              for k in range(7)]
    assert idx.upsert(old), "wanted idx.upsert(old)"
    assert idx.upsert_many(others) == len(others), "wanted idx.upsert_many(others) == len(others)"
    old_cell = h3.latlng_to_cell(a[0], a[1], 7)
    old_parent = h3.cell_to_parent(old_cell, 4)
    new_cell = h3.latlng_to_cell(b[0], b[1], 7)
    new_parent = h3.cell_to_parent(new_cell, 4)
    assert new_parent != old_parent, "the move changes the coarse parent"
    assert key_slot(new_parent.encode()) != key_slot(old_parent.encode()), "the move crosses slots"

    # Step 1 adds the new membership, step 2 points the hash at it, step 3 drops the old one: the writer
    # dies after step 1, or after step 2.
    survived = 1 if steps == "add" else 2
    crashing = RedisClusterTechnicianIndex(lambda: CrashAfter(rc, survived), prefix=idx.prefix)  # type: ignore[arg-type, return-value]
    with pytest.raises(redis.ConnectionError):
        crashing.upsert(IndexedTech(1, b[0], b[1], "available", ts=NOW))
    auth = a if steps == "add" else b
    snap = idx.get(1)
    assert snap is not None, "the technician is still there after the crash"
    assert (snap.lat, snap.lng) == auth, "the hash holds the last committed position"
    assert idx.cell_memberships(1) == sorted([old_cell, new_cell]), "one stale extra membership"
    assert len(idx.parent_memberships(1)) == 2

    techs = {t.id: t for t in others} | {1: IndexedTech(1, auth[0], auth[1], "available", ts=snap.ts)}
    mid = ((a[0] + b[0]) / 2, (a[1] + b[1]) / 2)
    for q in (a, b, mid, (a[0] + 0.2, a[1] - 0.3)):
        for n in (1, 3, 8):
            got = idx.nearest(q[0], q[1], n, ANY_AGE, now=NOW)
            assert [c.technician_id for c in got] == brute_force(techs, q[0], q[1], n, ANY_AGE, NOW)
        _once_at(idx.nearest(q[0], q[1], 8, ANY_AGE, now=NOW), 1, auth)

    # Within the grace a stale membership may be a write in flight: repair leaves it.
    assert idx.repair() == {"removed": 0, "readded": 0}
    assert len(idx.cell_memberships(1)) == 2
    assert idx.repair(grace_s=0.0) == {"removed": 1, "readded": 0}
    auth_cell = h3.latlng_to_cell(auth[0], auth[1], 7)
    assert idx.cell_memberships(1) == [auth_cell]
    assert idx.parent_memberships(1) == [h3.cell_to_parent(auth_cell, 4)]
    _once_at(idx.nearest(a[0], a[1], 8, ANY_AGE, now=NOW), 1, auth)
    # The technician moves on normally afterwards.
    assert idx.upsert(IndexedTech(1, a[0], a[1], "available", ts=NOW + 1))
    assert idx.cell_memberships(1) == [old_cell]


def test_repair_readds_a_lost_membership(idx: RedisClusterTechnicianIndex, rc: RedisCluster) -> None:
    t = IndexedTech(5, 52.48, -1.89, "available", ts=NOW)
    assert idx.upsert(t)
    cell = h3.latlng_to_cell(t.lat, t.lng, 7)
    for key in idx.neighbourhood_keys(cell):  # as if that neighbourhood's master lost its data
        rc.delete(key)
    assert idx.nearest(t.lat, t.lng, 1, ANY_AGE, now=NOW) == []
    assert idx.repair() == {"removed": 0, "readded": 1}
    assert [c.technician_id for c in idx.nearest(t.lat, t.lng, 1, ANY_AGE, now=NOW)] == [5]


# --- 4. concurrent moves ---------------------------------------------------------------------

def test_concurrent_moves_never_lose_the_membership(cluster: RedisClusterProcess, idx: RedisClusterTechnicianIndex,
                                                    rc: RedisCluster) -> None:
    ids = list(range(1, 11))  # few technicians, six writers: many races on each
    # Around the Midlands: ~3 degrees x 2 degrees, a few dozen coarse parents.
    assert idx.upsert_many([IndexedTech(i, 52.0, -1.5, "available", ts=1.0) for i in ids]) == len(ids)
    errors: list[BaseException] = []
    stop = threading.Event()
    checks = [0]

    def mover(seed: int) -> None:
        rng = random.Random(seed)
        client = cluster.client()
        local = RedisClusterTechnicianIndex(client, prefix=idx.prefix)
        try:
            for k in range(120):
                tid = rng.choice(ids)
                if rng.random() < 0.05:
                    local.remove(tid)
                pos = (51.0 + 2 * rng.random(), -3.0 + 3 * rng.random())
                if rng.random() < 0.5:  # small moves, often within one cell
                    snap = local.get(tid)
                    if snap is not None:
                        pos = (snap.lat + 0.01 * rng.random(), snap.lng + 0.01 * rng.random())
                t = IndexedTech(tid, pos[0], pos[1], "available", ts=time.time() + k)
                if rng.random() < 0.2:
                    local.upsert_many([t, IndexedTech(rng.choice(ids), *pos, "available", ts=time.time())],
                                      keep_status=True)
                else:
                    local.upsert(t, keep_status=True)
        except BaseException as e:  # pragma: no cover - reported below
            errors.append(e)
        finally:
            client.close()

    def checker() -> None:
        """While the hash names one write (same owner before and after), its cell holds the id."""
        client = cluster.client()
        rng = random.Random(99)
        try:
            while not stop.is_set():
                tid = rng.choice(ids)
                h = hash_key(idx.prefix, tid)
                before = client.hmget(h, "cell", "parent", "w")
                if before[0] is None:
                    continue
                cell, parent = before[0].decode(), before[1].decode()
                present = client.zscore(cell_key(idx.prefix, cell, parent), tid)
                in_parent = client.zscore(parent_key(idx.prefix, parent), tid)
                if client.hmget(h, "cell", "parent", "w") == before:
                    assert present is not None, (tid, before)
                    assert in_parent is not None, (tid, before)
                    checks[0] += 1
        except BaseException as e:  # pragma: no cover - reported below
            errors.append(e)
        finally:
            client.close()

    def repairer() -> None:
        client = cluster.client()
        local = RedisClusterTechnicianIndex(client, prefix=idx.prefix)
        try:
            while not stop.is_set():
                local.repair()  # with its grace: must never hide a write in flight
        except BaseException as e:  # pragma: no cover - reported below
            errors.append(e)
        finally:
            client.close()

    movers = [threading.Thread(target=mover, args=(s,)) for s in range(6)]
    helpers = [threading.Thread(target=checker), threading.Thread(target=repairer)]
    for t in movers + helpers:
        t.start()
    for t in movers:
        t.join()
    stop.set()
    for t in helpers:
        t.join()
    assert not errors, errors
    assert checks[0] > 50

    idx.repair(grace_s=0.0)  # no writer left: every stale membership goes
    for tid in ids:
        snap = idx.get(tid)
        if snap is None:  # removed last
            assert idx.cell_memberships(tid) == [], "wanted idx.cell_memberships(tid) == []"
            assert idx.parent_memberships(tid) == [], "wanted idx.parent_memberships(tid) == []"
            continue
        assert idx.cell_memberships(tid) == [snap.cell], tid
        assert idx.parent_memberships(tid) == [snap.parent], tid
        got = idx.nearest(snap.lat, snap.lng, 1, ANY_AGE, now=NOW)
        assert [c.technician_id for c in got] == [tid]


# --- the rest of the adapter's contract ---------------------------------------------------------

def test_older_position_is_ignored_and_leaves_nothing_behind(idx: RedisClusterTechnicianIndex) -> None:
    assert idx.upsert(IndexedTech(1, 51.5, -0.1, "available", ts=200.0))
    assert not idx.upsert(IndexedTech(1, 55.9, -3.2, "available", ts=100.0))  # another parent, refused
    snap = idx.get(1)
    assert snap is not None, "snap is missing"
    assert snap.lat == 51.5, f"snap.lat is {snap.lat!r}, wanted 51.5"
    assert idx.cell_memberships(1) == [snap.cell]
    assert idx.parent_memberships(1) == [snap.parent]


def test_status_compare_and_set_and_remove(idx: RedisClusterTechnicianIndex) -> None:
    idx.upsert(IndexedTech(7, 51.5, -0.1, "available", frozenset({"van"}), ts=1.0))
    assert idx.set_status(7, "assigned", expected="available")
    assert not idx.set_status(7, "assigned", expected="available")
    assert not idx.set_status(8, "assigned", expected="available")  # unknown
    assert idx.get(7).status == "assigned"  # type: ignore[union-attr]
    assert idx.upsert(IndexedTech(7, 51.6, -0.2, "available", ts=2.0), keep_status=True)
    assert idx.get(7).status == "assigned"  # type: ignore[union-attr]
    assert idx.snapshots([7, 8]).keys() == {7}
    idx.remove(7)
    assert idx.get(7) is None
    assert idx.cell_memberships(7) == [], "wanted idx.cell_memberships(7) == []"
    assert idx.parent_memberships(7) == [], "wanted idx.parent_memberships(7) == []"
    assert idx.upsert(IndexedTech(7, 51.6, -0.2, "available", ts=2.0))  # back on shift, same position time


def test_scripts_are_reloaded_after_a_script_flush(idx: RedisClusterTechnicianIndex, rc: RedisCluster) -> None:
    """A restarted or new master has no scripts: both the direct and the pipelined paths load them."""
    for node in rc.get_primaries():
        rc.get_redis_connection(node).script_flush()
    assert idx.upsert(IndexedTech(1, 51.5, -0.1, "available", ts=1.0))
    for node in rc.get_primaries():
        rc.get_redis_connection(node).script_flush()
    assert (
        idx.upsert_many([IndexedTech(i, 50.5 + i * 0.3, -3 + i * 0.3, "available", ts=1.0) for i in range(2, 12)]) == 10
    )
    assert [c.technician_id for c in idx.nearest(51.5, -0.1, 1, ANY_AGE, now=NOW)] == [1]


def test_rebuild_and_is_built_per_master(idx: RedisClusterTechnicianIndex, rc: RedisCluster) -> None:
    assert not idx.is_built()
    fleet = [IndexedTech(i, 50.5 + i * 0.1, -4 + i * 0.08, "available", ts=NOW) for i in range(60)]
    assert idx.rebuild(fleet) == 60
    assert idx.is_built()
    # One master losing its data (restart without persistence) must unset is_built: any master but the one
    # holding the list of markers, so that only that master's own marker goes.
    listing = rc.get_node_from_key(f"{idx.prefix}built").name
    node = next(n for n in rc.get_primaries() if n.name != listing)
    conn = rc.get_redis_connection(node)
    for k in list(conn.scan_iter(match=f"{idx.prefix}*")):
        conn.delete(k)
    assert not idx.is_built()
    assert idx.rebuild(fleet) == 60, "wanted idx.rebuild(fleet) == 60"
    assert idx.is_built(), "wanted idx.is_built()"


def test_unreachable_cluster_falls_back() -> None:
    """RedisClusterException surfaces as a RedisError, so the failover index uses PostgreSQL."""
    dead = RedisClusterTechnicianIndex(lambda: RedisCluster(host="127.0.0.1", port=free_port()))

    class Fallback:
        def nearest(self, lat, lng, n, f):
            return ["from postgres"]

    with pytest.raises(redis.RedisError):
        dead.nearest(51.5, -0.1, 1, ANY_AGE)
    failover = FailoverTechnicianIndex(dead, Fallback(), lambda: [])  # type: ignore[arg-type]
    assert failover.nearest(51.5, -0.1, 1, ANY_AGE) == ["from postgres"]
    assert failover.try_claim(1) is None
