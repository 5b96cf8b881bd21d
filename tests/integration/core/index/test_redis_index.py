"""The Redis technician index against a brute-force scan, and its atomic moves."""

from __future__ import annotations

import math
import random
import threading
import time

import h3
import pytest
import redis
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from core.geo.sphere import haversine_km
from core.index import IndexedTech, TechFilter
from core.index.redis_cells import geo_score
from core.index.redis_index import RedisTechnicianIndex

CAPS = ["run_flat", "suv_4x4", "van"]
STATUSES = ["available", "assigned", "break", "en_route"]
# Around the UK, including empty countryside and sea between clusters.
lat_s = st.floats(50.0, 58.5)
lng_s = st.floats(-5.5, 1.7)


def brute_force(techs: dict[int, IndexedTech], lat: float, lng: float, n: int, f: TechFilter, now: float):
    ok = [
        (haversine_km(lat, lng, t.lat, t.lng), t.id)
        for t in techs.values()
        if t.status in f.statuses and f.capabilities <= t.capabilities and now - t.ts <= f.max_age_s
        and t.id not in f.exclude and haversine_km(lat, lng, t.lat, t.lng) <= f.max_km
    ]
    return [tid for _, tid in sorted(ok)[:n]]


fleet_s = st.lists(
    st.tuples(
        lat_s, lng_s, st.sampled_from(STATUSES), st.sets(st.sampled_from(CAPS)), st.integers(0, 300),
        st.booleans(),
    ),
    min_size=0,
    max_size=60,
)
query_s = st.tuples(
    lat_s, lng_s, st.integers(1, 6), st.sets(st.sampled_from(CAPS), max_size=1),
    st.sets(st.sampled_from(STATUSES), min_size=1, max_size=2), st.sets(st.integers(1, 60), max_size=5),
    st.sampled_from([250.0, 250.0, 40.0, 3.0]),
)


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(
    fleet=fleet_s,
    changes=st.lists(st.tuples(st.integers(1, 60), st.sampled_from([*STATUSES, "remove"])), max_size=10),
    queries=st.lists(query_s, min_size=1, max_size=5),
)
def test_nearest_matches_brute_force(redis_client: redis.Redis, key_prefix: str, fleet, changes, queries) -> None:
    """Same technicians as a scan with the same filters (status, capability, freshness, exclusions,
    distance limit), after status changes and removals too."""
    idx = RedisTechnicianIndex(redis_client, prefix=key_prefix)
    idx.clear()
    now = 1_800_000_000.0
    techs = {}
    for i, (lat, lng, status, caps, age, clustered) in enumerate(fleet, start=1):
        if clustered:  # many technicians near Birmingham to exercise dense cells and cut answers
            lat, lng = 52.48 + (lat - 54) / 100, -1.89 + lng / 100
        t = IndexedTech(i, lat, lng, status, frozenset(caps), now - age)
        techs[i] = t
    idx.upsert_many(list(techs.values()))
    for tid, change in changes:
        if tid not in techs:
            continue
        if change == "remove":
            idx.remove(tid)
            del techs[tid]
        else:
            assert idx.set_status(tid, change)
            t = techs[tid]
            techs[tid] = IndexedTech(t.id, t.lat, t.lng, change, t.capabilities, t.ts)
    for lat, lng, n, caps, statuses, exclude, max_km in queries:
        f = TechFilter(statuses=frozenset(statuses), capabilities=frozenset(caps), exclude=frozenset(exclude),
                       max_km=max_km)
        got = [c.technician_id for c in idx.nearest(lat, lng, n, f, now=now)]
        want = brute_force(techs, lat, lng, n, f, now)
        got_d = [round(haversine_km(lat, lng, techs[i].lat, techs[i].lng), 6) for i in got]
        want_d = [round(haversine_km(lat, lng, techs[i].lat, techs[i].lng), 6) for i in want]
        assert got_d == want_d, (got, want)
    assert_head_counts(redis_client, key_prefix)


def test_nobody_available_costs_no_search(redis_client: redis.Redis, key_prefix: str) -> None:
    from core.index.search import SearchStats

    idx = RedisTechnicianIndex(redis_client, prefix=key_prefix)
    idx.upsert_many([IndexedTech(i, 52.0 + i / 1000, -1.5, "assigned", ts=1e9) for i in range(1, 300)])
    stats = SearchStats()
    assert idx.nearest(52.1, -1.5, 5, TechFilter(max_age_s=1e12), now=1e9, stats=stats) == []
    assert stats.cells_read == 0
    assert idx.set_status(7, "available")
    assert [c.technician_id for c in idx.nearest(52.1, -1.5, 5, TechFilter(max_age_s=1e12), now=1e9)] == [7]
    idx.remove(7)
    assert idx.nearest(52.1, -1.5, 5, TechFilter(max_age_s=1e12), now=1e9) == []
    assert_head_counts(redis_client, key_prefix)


def test_moves_keep_exactly_one_cell_under_concurrency(redis_client: redis.Redis, key_prefix: str) -> None:
    idx = RedisTechnicianIndex(redis_client, prefix=key_prefix)
    ids = list(range(1, 21))
    for i in ids:
        idx.upsert(IndexedTech(i, 51.5, -0.12, "available", ts=1.0))
    errors: list[BaseException] = []

    def mover(seed: int) -> None:
        rng = random.Random(seed)
        client = redis.Redis(connection_pool=redis_client.connection_pool)
        local = RedisTechnicianIndex(client, prefix=key_prefix)
        try:
            for k in range(150):
                tid = rng.choice(ids)
                if k % 3 == 0:
                    local.set_status(tid, rng.choice(STATUSES))
                else:
                    local.upsert(
                        IndexedTech(tid, 51.3 + rng.random(), -0.6 + rng.random(), "available", ts=time.time() + k),
                        keep_status=True,
                    )
        except BaseException as e:  # pragma: no cover - reported below
            errors.append(e)

    threads = [threading.Thread(target=mover, args=(s,)) for s in range(6)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors
    for tid in ids:
        snap = idx.get(tid)
        assert snap is not None
        assert idx.cell_memberships(tid) == [snap.cell]
        # Exactly one cell per level, each the fine cell's ancestor, named with the hash's status.
        found = idx.memberships(tid)
        assert [lv for lv, _, _ in found] == sorted(idx.levels), (tid, found)
        for lv, cell, member in found:
            assert cell == h3.cell_to_parent(snap.cell, lv)
            assert member == f"{tid}|{snap.status}|", (tid, member, snap.status)
    assert_head_counts(redis_client, key_prefix)


def assert_head_counts(client: redis.Redis, prefix: str) -> None:
    """Every cell's head counts by status, and the overall ones, match its members."""
    overall: dict[str, int] = {}
    seen = set()
    for key in client.scan_iter(match=f"{prefix}g*", count=1000):
        if key.endswith(b":n"):
            continue
        counts: dict[str, int] = {}
        for member, _ in client.zscan_iter(key):
            status = member.decode().split("|")[1]
            counts[status] = counts.get(status, 0) + 1
            if key.decode().startswith(f"{prefix}g7:"):
                overall[status] = overall.get(status, 0) + 1
        stored = {k.decode(): int(v) for k, v in client.hgetall(key + b":n").items() if int(v)}
        assert stored == counts, key
        seen.add(key + b":n")
    for key in client.scan_iter(match=f"{prefix}g*:n", count=1000):
        if key not in seen:  # a count left for a cell nobody is in any more must be all zeros
            assert not any(int(v) for v in client.hvals(key)), key
    assert {k.decode(): int(v) for k, v in client.hgetall(f"{prefix}n").items() if int(v)} == overall


def test_concurrent_rebuilds_keep_the_head_counts(redis_client: redis.Redis, key_prefix: str) -> None:
    """Processes rebuilding at once (workers starting together, a forced rebuild meeting a start-up
    one) take turns, so the head counts a lookup trusts still match the members; a rebuild finished
    by another process after the need arose is taken as done."""
    rng = random.Random(3)
    now = time.time()
    fleet = [IndexedTech(i, rng.uniform(50.5, 55.0), rng.uniform(-4.0, 0.5), rng.choice(STATUSES),
                         frozenset(rng.sample(CAPS, rng.randint(0, 2))), now) for i in range(1, 3001)]
    errors: list[BaseException] = []

    def rebuild() -> None:
        try:
            RedisTechnicianIndex(redis.Redis(connection_pool=redis_client.connection_pool), prefix=key_prefix).rebuild(
                fleet
            )
        except BaseException as e:  # noqa: BLE001 - reported below
            errors.append(e)

    threads = [threading.Thread(target=rebuild) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(120)
    assert not errors
    assert_head_counts(redis_client, key_prefix)
    idx = RedisTechnicianIndex(redis_client, prefix=key_prefix)
    assert idx.rebuild(fleet[:10], unless_built_after=now) == 0  # built since: nothing redone
    assert len(idx.nearest(52.0, -1.5, 3, TechFilter(), now=now)) == 3


def test_older_position_is_ignored(redis_client: redis.Redis, key_prefix: str) -> None:
    idx = RedisTechnicianIndex(redis_client, prefix=key_prefix)
    assert idx.upsert(IndexedTech(1, 51.5, -0.1, "available", ts=200.0))
    assert not idx.upsert(IndexedTech(1, 52.5, -1.1, "available", ts=100.0))
    snap = idx.get(1)
    assert snap is not None, "snap is missing"
    assert snap.lat == 51.5, f"snap.lat is {snap.lat!r}, wanted 51.5"


def test_status_compare_and_set(redis_client: redis.Redis, key_prefix: str) -> None:
    idx = RedisTechnicianIndex(redis_client, prefix=key_prefix)
    idx.upsert(IndexedTech(7, 51.5, -0.1, "available", ts=1.0))
    assert idx.set_status(7, "assigned", expected="available")
    assert not idx.set_status(7, "assigned", expected="available")
    assert idx.get(7).status == "assigned"  # type: ignore[union-attr]


def test_exact_on_a_national_fleet(redis_client: redis.Redis, key_prefix: str) -> None:
    """A fleet spread like the population, towns and countryside: the same distances as brute force,
    near ties included (Redis orders by quantised positions)."""
    from core.geo.places import random_point_near, uk_places

    rng = random.Random(2)
    towns = uk_places()
    weights = [max(p.population, 1) for p in towns]
    now = 1_800_000_000.0
    techs = {}
    for i in range(1, 8001):
        t = rng.choices(towns, weights)[0]
        lat, lng = random_point_near(rng, t.lat, t.lng, 4)
        techs[i] = IndexedTech(i, lat, lng, rng.choices(["available", "assigned"], [0.7, 0.3])[0],
                               frozenset(rng.sample(CAPS, rng.randint(0, 2))), now - rng.uniform(0, 180))
    idx = RedisTechnicianIndex(redis_client, prefix=key_prefix)
    idx.upsert_many(list(techs.values()))
    for q in range(150):
        if q % 2:
            t = rng.choices(towns, weights)[0]
            lat, lng = random_point_near(rng, t.lat, t.lng, 3)
        else:
            lat, lng = rng.uniform(50.5, 57.5), rng.uniform(-4.5, 1.0)
        f = TechFilter(capabilities=frozenset(rng.sample(CAPS, 1)) if q % 4 == 0 else frozenset())
        got = [round(c.distance_km, 6) for c in idx.nearest(lat, lng, 5, f, now=now)]
        want = [
            round(haversine_km(lat, lng, techs[i].lat, techs[i].lng), 6)
            for i in brute_force(techs, lat, lng, 5, f, now)
        ]
        assert sorted(got) == want, (lat, lng)


def test_exact_after_many_small_moves(redis_client: redis.Redis, key_prefix: str) -> None:
    """Coarse levels hold a technician at a cell centre and are rewritten only when it crosses into
    another such cell; searches there must still match brute force after many short moves and a
    few longer ones."""
    rng = random.Random(7)
    now = 1_800_000_000.0
    techs = {}
    for i in range(1, 3001):
        lat, lng = rng.uniform(51.0, 53.5), rng.uniform(-3.0, 0.5)
        techs[i] = IndexedTech(i, lat, lng, rng.choice(["available", "available", "assigned"]),
                               frozenset(rng.sample(CAPS, rng.randint(0, 1))), now - 200)
    idx = RedisTechnicianIndex(redis_client, prefix=key_prefix)
    idx.upsert_many(list(techs.values()))
    for step in range(1, 6):
        moved = []
        for t in techs.values():
            km = rng.uniform(0.0, 0.4) if rng.random() < 0.9 else rng.uniform(0.4, 3.0)
            bearing = rng.uniform(0, 2 * math.pi)
            lat = t.lat + km * math.cos(bearing) / 111.2
            lng = t.lng + km * math.sin(bearing) / (111.2 * math.cos(math.radians(lat)))
            moved.append(IndexedTech(t.id, lat, lng, t.status, t.capabilities, now - 200 + step * 30))
        idx.upsert_many(moved, keep_status=True)
        techs = {t.id: t for t in moved}
    for q in range(120):
        lat, lng = rng.uniform(50.8, 53.7), rng.uniform(-3.2, 0.7)
        caps = frozenset(rng.sample(CAPS, 1)) if q % 3 == 0 else frozenset()
        n = rng.choice([1, 5, 12])
        f = TechFilter(capabilities=caps)
        got = [round(c.distance_km, 6) for c in idx.nearest(lat, lng, n, f, now=now)]
        want = [round(haversine_km(lat, lng, techs[i].lat, techs[i].lng), 6)
                for i in brute_force(techs, lat, lng, n, f, now)]
        assert sorted(got) == want, (lat, lng, n, sorted(caps))


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(lat=st.floats(-85.05112878, 85.05112878), lng=st.floats(-180.0, 180.0))
def test_geo_score_is_the_score_geoadd_gives(
    redis_client: redis.Redis, key_prefix: str, lat: float, lng: float
) -> None:
    """The client computes GEO scores so the sets take a plain ZADD: they must be Redis's own."""
    key = f"{key_prefix}score"
    redis_client.geoadd(key, (lng, lat, "m"))
    redis_client.zadd(key, {"ours": geo_score(lat, lng)})  # a double, as Redis holds it (exact below 2**53)
    assert redis_client.zscore(key, "ours") == redis_client.zscore(key, "m")


def test_crowded_cells_far_away_are_exact(redis_client: redis.Redis, key_prefix: str) -> None:
    """Members of one cell share a position in the coarse sets, so Redis returns them in ties whose
    order changes between calls; a search that must widen its COUNT through them still finds the
    nearest by their exact positions."""
    rng = random.Random(11)
    now = 1_800_000_000.0
    techs = {}
    for i in range(1, 401):  # four crowded fine cells, 20-60 km from the queries
        clat, clng = [(55.0, -3.0), (55.2, -3.3), (54.8, -2.6), (55.4, -2.5)][i % 4]
        techs[i] = IndexedTech(
            i,
            clat + rng.uniform(-0.004, 0.004),
            clng + rng.uniform(-0.006, 0.006),
            rng.choice(["available", "assigned"]),
            frozenset(rng.sample(CAPS, rng.randint(0, 1))),
            now,
        )
    idx = RedisTechnicianIndex(redis_client, prefix=key_prefix)
    idx.upsert_many(list(techs.values()))
    for q in range(60):
        lat, lng = 55.1 + rng.uniform(-0.5, 0.5), -2.9 + rng.uniform(-0.9, 0.9)
        f = TechFilter(capabilities=frozenset(rng.sample(CAPS, 1)) if q % 3 == 0 else frozenset())
        n = rng.choice([1, 5, 30])
        got = [round(c.distance_km, 6) for c in idx.nearest(lat, lng, n, f, now=now)]
        want = [
            round(haversine_km(lat, lng, techs[i].lat, techs[i].lng), 6)
            for i in brute_force(techs, lat, lng, n, f, now)
        ]
        assert sorted(got) == want, (lat, lng, n)


def test_vans_abroad_are_exact_and_impossible_positions_are_not_indexed(
    redis_client: redis.Redis, key_prefix: str
) -> None:
    """Cells beyond the area the coarse levels are sized for hold exact positions; a fix Redis GEO
    sets cannot hold (a GPS glitch past 85 degrees) is left out and the van ages out of offers."""
    rng = random.Random(5)
    now = 1_800_000_000.0
    techs = {}
    for i in range(1, 301):  # Spain, Portugal and France, far outside the service area
        techs[i] = IndexedTech(i, rng.uniform(37.0, 47.0), rng.uniform(-9.0, 4.0), "available", frozenset(), now)
    idx = RedisTechnicianIndex(redis_client, prefix=key_prefix)
    assert idx.upsert_many(list(techs.values())) == 300
    for step in range(3):  # pings that stay inside their cells
        moved = [IndexedTech(t.id, t.lat + rng.uniform(-0.002, 0.002), t.lng + rng.uniform(-0.002, 0.002),
                             t.status, t.capabilities, now + step + 1) for t in techs.values()]
        idx.upsert_many(moved)
        techs = {t.id: t for t in moved}
    for _ in range(40):
        lat, lng = rng.uniform(36.0, 48.0), rng.uniform(-10.0, 5.0)
        n = rng.choice([1, 5])
        got = [round(c.distance_km, 6) for c in idx.nearest(lat, lng, n, TechFilter(), now=now + 10)]
        want = [round(haversine_km(lat, lng, techs[i].lat, techs[i].lng), 6)
                for i in brute_force(techs, lat, lng, n, TechFilter(), now + 10)]
        assert sorted(got) == want, (lat, lng, n)
    glitch = IndexedTech(1, 89.9, 10.0, "available", frozenset(), now + 100)
    assert idx.upsert(glitch) is False, "wanted idx.upsert(glitch) is False"
    assert idx.upsert_many([glitch]) == 0, "wanted idx.upsert_many([glitch]) == 0"
    # kept where it was, ageing
    assert idx.get(1) is not None, "idx.get(1) is missing"
    assert idx.get(1).lat == techs[1].lat, "wanted idx.get(1).lat == techs[1].lat"


def test_pipelined_batches_survive_a_flushed_script_cache() -> None:
    """Batches already sent when Redis forgot the script (restart, SCRIPT FLUSH) are run again, and a
    later position still wins over an older one whatever order the batches ran in."""
    from tests.support.redis_server import RedisProcess

    with RedisProcess() as own:
        client = redis.Redis.from_url(own.url)
        idx = RedisTechnicianIndex(client, prefix="t:")
        first = [IndexedTech(i, 52.0 + i / 10_000, -1.0, "available", ts=100.0) for i in range(1, 1201)]
        assert idx.upsert_many(first, batch=100) == 1200
        client.script_flush()
        later = [IndexedTech(i, 53.0, -2.0 + i / 10_000, "available", ts=200.0) for i in range(1, 1201)]
        assert idx.upsert_many(later, batch=100) == 1200
        assert idx.upsert_many(first, batch=100) == 0  # older than what is stored: ignored
        assert all(idx.get(i).lat == 53.0 for i in range(1, 1201))  # type: ignore[union-attr]
        assert client.ping()  # the connection is still usable
        client.close()


class FlatEta:
    """An ETA model that tells itself apart: ten minutes per kilometre, no mobilisation."""

    def eta_minutes(self, from_lat: float, from_lng: float, to_lat: float, to_lng: float) -> float:
        return 10.0 * haversine_km(from_lat, from_lng, to_lat, to_lng)


def test_candidates_carry_the_eta_of_the_model_the_index_was_given(redis_client: redis.Redis, key_prefix: str) -> None:
    idx = RedisTechnicianIndex(redis_client, prefix=key_prefix, eta=FlatEta())
    idx.upsert(IndexedTech(1, 52.01, -1.5, "available", ts=1e9))
    (found,) = idx.nearest(52.0, -1.5, 1, TechFilter(max_age_s=1e12), now=1e9)
    assert found.eta_minutes == pytest.approx(10.0 * found.distance_km), (
        "the index ranks by the ETA model it was built with"
    )
