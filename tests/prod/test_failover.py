"""Breaking the production shape under load, through nginx: each test bounded, each prints what it counted."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator

import httpx
import pytest
import sqlalchemy as sa

from deploy.prod import Shape
from tests.e2e.conftest import login
from tests.factories import request_body
from tests.prod.conftest import Customers, stored_ids

SHOWN_WITHIN_S = 5.0
BACK_WITHIN_S = 90.0  # a killed process is started again and ready (the supervisor, like systemd's Restart=always)


def _accepted_are_stored(shape: Shape, customers: Customers) -> tuple[int, int]:
    """(accepted ids, of which stored) - and no key stored twice."""
    ids = {body["id"] for body in customers.accepted.values()}
    assert len(ids) == len(customers.accepted), "one request per Idempotency-Key, retries included"
    return len(ids), len(stored_ids(shape, ids))


def _drivers_stored(shape: Shape) -> int:
    engine = sa.create_engine(shape.direct_url)
    try:
        with engine.connect() as c:
            drivers = sa.text("SELECT count(*) FROM service_request WHERE customer_name LIKE 'Driver %'")
            return c.execute(drivers).scalar_one()
    finally:
        engine.dispose()


def _submit(shape: Shape, **over: object) -> dict:
    """One request through nginx, retried with the same key while a process is going away."""
    key = f"probe-{time.monotonic_ns()}"
    body = request_body(**over)
    for _ in range(20):
        try:
            r = httpx.post(f"{shape.url}/api/v1/requests", json=body, headers={"Idempotency-Key": key}, timeout=15)
            if r.status_code in (200, 201):
                return r.json()
        except httpx.TransportError:
            pass
        time.sleep(0.25)
    raise AssertionError("a request was not accepted within 5 s of retries")


def _wait_back(shape: Shape, i: int, old_pid: int) -> float:
    started = time.monotonic()
    while time.monotonic() - started < BACK_WITHIN_S:
        proc = shape.apps[i].proc
        if proc and proc.pid != old_pid:
            try:
                if httpx.get(f"http://127.0.0.1:{shape.apps[i].port}/health", timeout=2).status_code == 200:
                    return time.monotonic() - started
            except httpx.HTTPError:
                pass
        time.sleep(0.5)
    raise AssertionError(f"app process {i} was not started again within {BACK_WITHIN_S:.0f} s")


@pytest.fixture
def core(shape: Shape) -> Iterator[object]:
    from core.bootstrap import bootstrap
    from core.config import Settings

    c = bootstrap(Settings(rate_limits_enabled=False), database_url=shape.direct_url, redis_url=shape.redis_url)
    yield c
    c.close()


def test_killed_process_loses_nothing_and_pages_reconnect(shape: Shape, core, browser,  # type: ignore[no-untyped-def]
                                                          report: Callable[[str], None]) -> None:
    """Each app process in turn is SIGKILLed while customers submit and track through nginx and a dispatcher's
    console and a tracking page are open in Chromium (so each page's WebSocket surely loses its process once)."""
    from core.principal import Principal
    from core.technicians.jobs import job_action

    watched = _submit(shape, location={"lat": 51.4545, "lng": -0.9781})
    assert watched["status"] == "assigned", watched
    rid, tid = watched["id"], _technician_of(shape, watched["id"])
    before = _drivers_stored(shape)
    customers = Customers(shape.url)
    figures = []
    desk_ctx = browser.new_context(viewport={"width": 1440, "height": 900})
    phone_ctx = browser.new_context(viewport={"width": 390, "height": 844})
    try:
        desk = desk_ctx.new_page()
        desk.goto(f"{shape.url}/dispatch")
        desk.locator("#username").wait_for(timeout=20000)
        login(desk, shape.url, "dispatch", "dispatch-demo-1")
        desk.locator("#queue").wait_for(timeout=20000)
        phone = phone_ctx.new_page()
        phone.goto(f"{shape.url}/track/{watched['tracking_token']}")
        phone.locator("#status").wait_for(timeout=20000)
        customers.start()
        steps = iter((("en-route", "on the way"), ("arrived", "technician with you")))
        for i in range(len(shape.apps)):
            time.sleep(2)
            killed_at = time.monotonic()
            old_pid = shape.kill_app(i)
            probe = _submit(shape, customer_name="Probe After Kill")
            desk.locator(f"#row-{probe['reference']}").wait_for(timeout=SHOWN_WITHIN_S * 1000)
            console_s = time.monotonic() - killed_at
            action, words = next(steps)
            moved_at = time.monotonic()
            job_action(core, Principal.system("prod test"), rid, action, tech_id=tid)
            phone.locator("#status", has_text=words).wait_for(timeout=SHOWN_WITHIN_S * 1000)
            tracking_s = time.monotonic() - moved_at
            back_s = _wait_back(shape, i, old_pid)
            figures.append(f"process {i}: console showed a new request {console_s:.1f} s after the kill, "
                           f"tracking page showed '{words}' {tracking_s:.1f} s after the step, "
                           f"process back in {back_s:.0f} s")
    finally:
        customers.stop()
        desk_ctx.close()
        phone_ctx.close()
    accepted, stored = _accepted_are_stored(shape, customers)
    extra = _drivers_stored(shape) - before - accepted
    report("\nprocess killed under load: " + customers.summary() + f" stored={stored} stored_unacknowledged={extra}")
    for line in figures:
        report("  " + line)
    assert accepted > 50, "customers kept submitting through the kills"
    assert not customers.lost, "no submission failed for good: the other process took them"
    assert stored == accepted, "every accepted request is in PostgreSQL"
    assert extra == 0, "a retried submission was stored once (same Idempotency-Key)"


def _technician_of(shape: Shape, request_id: int) -> int:
    engine = sa.create_engine(shape.direct_url)
    try:
        with engine.connect() as c:
            return c.execute(sa.text("SELECT technician_id FROM service_request WHERE id = :i"),
                             {"i": request_id}).scalar_one()
    finally:
        engine.dispose()


def test_rolling_restart_under_load_fails_no_submission(shape: Shape, report: Callable[[str], None]) -> None:
    customers = Customers(shape.url).start()
    try:
        time.sleep(2)
        started = time.monotonic()
        shape.rolling_restart(on_step=lambda _m: None)
        took = time.monotonic() - started
        time.sleep(2)
    finally:
        customers.stop()
    accepted, stored = _accepted_are_stored(shape, customers)
    report(f"\nrolling restart of {len(shape.apps)} processes in {took:.0f} s under load: "
           + customers.summary() + f" stored={stored}")
    assert accepted > 50, "customers kept submitting through the restart"
    assert customers.failed_tries == 0, "not one submission failed, not even once before a retry"
    assert customers.tracking_failed == 0, "not one tracking read failed"
    assert stored == accepted, "every accepted request is in PostgreSQL"


def test_app_recovers_from_pgbouncer_restart_by_itself(shape: Shape, report: Callable[[str], None]) -> None:
    pids = [a.proc.pid for a in shape.apps if a.proc]
    assert _submit(shape)["id"] > 0
    cut_at = time.monotonic()
    shape.restart_bouncer()
    first_ok = None
    answers = []
    while time.monotonic() - cut_at < 30:
        try:
            r = httpx.post(f"{shape.url}/api/v1/requests", json=request_body(), timeout=15)
            answers.append(r.status_code)
            if r.status_code == 201 and first_ok is None:
                first_ok = time.monotonic() - cut_at
            if first_ok is not None and answers[-10:] == [201] * 10:
                break
        except httpx.TransportError:
            answers.append(0)
        time.sleep(0.1)
    health = httpx.get(f"{shape.url}/health", timeout=10)
    failed = sum(1 for a in answers if a != 201)
    report(f"\nPgBouncer restarted: first submission accepted {first_ok if first_ok is None else round(first_ok, 1)}"
           f" s after the cut; {len(answers)} tries, {failed} failed ({sorted(set(answers))})")
    assert first_ok is not None and first_ok < 10, "submissions are accepted again within 10 s"
    assert answers[-10:] == [201] * 10, "and keep being accepted"
    assert health.status_code == 200, "/health is green again"
    assert [a.proc.pid for a in shape.apps if a.proc] == pids, "no app process was restarted for it"
