"""Dispatch under concurrency and with Redis gone: nothing lost, nobody double-booked."""

from __future__ import annotations

import concurrent.futures as cf

import pytest
import sqlalchemy as sa

from core.bootstrap import bootstrap
from core.config import Settings
from core.context import Core
from core.dispatch.auto import sweep_pending
from core.errors import IllegalTransition
from core.geo.geocode import OfflineGeocoder
from core.requests.intake import submit_request
from core.schemas import RequestCreate
from core.technicians.jobs import job_action
from tests.factories import add_technicians, as_technician, request_body
from tests.support.redis_server import RedisProcess


def _rows(core: Core, sql: str) -> list:
    with core.engine.connect() as c:
        return list(c.execute(sa.text(sql)))


def _assert_no_double_assignment(core: Core) -> int:
    doubles = _rows(core, """
        SELECT technician_id, count(*) FROM service_request
        WHERE status IN ('assigned','en_route','on_site') GROUP BY technician_id HAVING count(*) > 1""")
    assert doubles == []
    mismatched = _rows(core, """
        SELECT r.id FROM service_request r JOIN technician t ON t.id = r.technician_id
        WHERE r.status = 'assigned' AND t.status <> 'assigned'""")
    assert mismatched == []
    return _rows(core, "SELECT count(*) FROM service_request WHERE status = 'assigned'")[0][0]


def test_100_concurrent_submissions_20_technicians(core: Core, api_server) -> None:
    import httpx

    add_technicians(core, 20, seed=5)
    bodies = [request_body() for _ in range(100)]
    with cf.ThreadPoolExecutor(16) as ex:
        answers = list(ex.map(lambda b: httpx.post(f"{api_server.url}/api/v1/requests", json=b, timeout=30), bodies))
    ok = [a.json() for a in answers if a.status_code == 201]
    assert len(ok) == 100, [a.text for a in answers if a.status_code != 201][:3]
    stored = {r[0] for r in _rows(core, "SELECT id FROM service_request")}
    assert {b["id"] for b in ok} <= stored, "wanted {b['id'] for b in ok} <= stored"
    assert len(stored) == 100, "wanted len(stored) == 100"
    assigned = _assert_no_double_assignment(core)
    print(f"accepted={len(ok)} stored={len(stored)} assigned={assigned} double=0")
    assert assigned == 20
    assert _rows(core, "SELECT count(*) FROM technician WHERE status = 'available'")[0][0] == 0


def test_a_request_while_every_van_is_busy_is_stored_pending_without_a_search(
        core: Core, monkeypatch: pytest.MonkeyPatch) -> None:
    add_technicians(core, 2, status="on_site", seed=6)  # on shift, both working
    lookups: list[tuple] = []
    real = core.index.nearest
    monkeypatch.setattr(core.index, "nearest", lambda *a, **k: lookups.append(a) or real(*a, **k))
    first = submit_request(core, RequestCreate.model_validate(request_body()))
    assert first.status == "pending", f"first.status is {first.status!r}, wanted 'pending'"
    assert lookups == [], f"lookups is {lookups!r}, wanted []"
    freed = add_technicians(core, 1, seed=7)[0]
    second = submit_request(core, RequestCreate.model_validate(request_body()))
    assert second.status == "assigned", f"second.status is {second.status!r}, wanted 'assigned'"
    assert len(lookups) == 1, "wanted len(lookups) == 1"
    assert _rows(core, f"SELECT technician_id FROM service_request WHERE id = {second.id}") == [(freed,)]


def test_decline_goes_to_next_technician_and_completion_frees_the_van(core: Core) -> None:
    techs = add_technicians(core, 2, seed=9)
    req = submit_request(core, RequestCreate.model_validate(request_body()))
    first = _rows(core, f"SELECT technician_id FROM service_request WHERE id = {req.id}")[0][0]
    job_action(core, as_technician(first), req.id, "decline")
    second = _rows(core, f"SELECT technician_id, status FROM service_request WHERE id = {req.id}")[0]
    assert second[1] == "assigned", f"second[1] is {second[1]!r}, wanted 'assigned'"
    assert second[0] != first, f"second[0] is {second[0]!r}, wanted != first"
    assert second[0] in techs, "second[0] missing from techs"
    try:
        job_action(core, as_technician(second[0]), req.id, "complete")
        raise AssertionError("completing before arriving must be refused")
    except IllegalTransition:
        pass
    for step in ("accept", "en-route", "arrived", "complete"):
        job_action(core, as_technician(second[0]), req.id, step)
    assert _rows(core, f"SELECT status FROM technician WHERE id = {second[0]}")[0][0] == "available"
    kinds = [r[0] for r in _rows(core, f"SELECT kind FROM request_event WHERE request_id = {req.id} ORDER BY id")]
    assert kinds == ["created", "assigned", "declined", "assigned", "accepted", "en_route", "on_site", "completed"]


def test_redis_down_then_back(database_url: str, clean_db, key_prefix: str) -> None:
    with RedisProcess() as rp:
        core = bootstrap(Settings(), database_url=database_url, redis_url=rp.url, key_prefix=key_prefix,
                         geocoder=OfflineGeocoder())
        try:
            add_technicians(core, 10, seed=2)
            for _ in range(3):
                submit_request(core, RequestCreate.model_validate(request_body()))
            rp.kill()
            accepted = [submit_request(core, RequestCreate.model_validate(request_body())) for _ in range(10)]
            assert all(a.id for a in accepted)
            stored = _rows(core, "SELECT count(*) FROM service_request")[0][0]
            assigned = _assert_no_double_assignment(core)
            assert core.index.fallbacks > 0
            print(
                f"redis down: accepted={len(accepted) + 3} stored={stored} assigned={assigned}"
                f" fallbacks={core.index.fallbacks}"
            )
            assert stored == 13, f"stored is {stored!r}, wanted 13"
            assert assigned == 10, f"assigned is {assigned!r}, wanted 10"
            rp.start()
            core.index.retry_now()  # no need to wait out the retry pause in a test
            assert core.index.ensure_built()
            in_db = {r[0]: r[1] for r in _rows(core, "SELECT id, status FROM technician")}
            for tid, status in in_db.items():
                snap = core.index.primary.get(tid)
                assert snap is not None, "snap is missing"
                assert snap.status == status, f"snap.status is {snap.status!r}, wanted status"
            # Free a van: the waiting requests are picked up through the rebuilt index.
            busy = _rows(core, "SELECT id, technician_id FROM service_request WHERE status='assigned' LIMIT 1")[0]
            for step in ("en-route", "arrived", "complete"):
                job_action(core, as_technician(busy[1]), busy[0], step)
            assert _rows(core, f"SELECT status FROM technician WHERE id = {busy[1]}")[0][0] == "assigned"
            assert sweep_pending(core) == 0  # nothing else is free
        finally:
            core.close()


def test_one_sweep_at_a_time_and_the_lock_ends_with_its_transaction(core: Core) -> None:
    """The sweep's lock is transaction-scoped (it must work behind PgBouncer's transaction pooling): while
    another process's sweep holds it, this one dispatches nothing; once that transaction ends, it does."""
    from core.dispatch.auto import SWEEP_LOCK, _sweep_lock

    submit_request(core, RequestCreate.model_validate(request_body()))  # nobody on shift: it waits
    add_technicians(core, 1, seed=12)
    with core.engine.connect() as other:
        assert other.execute(sa.text("SELECT pg_try_advisory_xact_lock(:k)"), {"k": SWEEP_LOCK}).scalar()
        assert sweep_pending(core) == 0, "another sweep holds the lock: this one leaves the request alone"
        other.rollback()
    assert sweep_pending(core) == 1, "the other sweep's transaction ended, and its lock with it"
    with _sweep_lock(core) as got:
        assert got
        with core.engine.connect() as c:
            held = c.execute(sa.text("SELECT count(*) FROM pg_locks WHERE locktype = 'advisory' AND objid = :k"),
                             {"k": SWEEP_LOCK}).scalar()
        assert held == 1, "held while the sweep runs"
    with core.engine.connect() as c:
        left = c.execute(sa.text("SELECT count(*) FROM pg_locks WHERE locktype = 'advisory' AND objid = :k"),
                         {"k": SWEEP_LOCK}).scalar()
    assert left == 0, "released when the sweep ends, with no unlock call to forget"
