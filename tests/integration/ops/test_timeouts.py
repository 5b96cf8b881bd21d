"""Timeouts everywhere: a dependency that stops answering costs a clear answer in bounded time, never a hung
worker. Each test breaks a real server (a stopped redis-server, a table locked by another session, an HTTP
server that never answers) and times what the API says."""

from __future__ import annotations

import concurrent.futures as cf
import os
import secrets
import signal
import subprocess
import sys
import time
from collections.abc import Iterator

import httpx
import pytest
import sqlalchemy as sa
from sqlalchemy.engine import make_url

from core.bootstrap import bootstrap
from core.config import Settings
from core.context import Core
from core.geo.geocode import GeocoderUnavailable, OfflineGeocoder, PostcodesIoGeocoder
from core.infra import db
from tests.factories import request_body
from tests.integration.ops.stuck import serving, silent_http_server, table_locked
from tests.support.redis_server import RedisProcess

STATEMENT_MS = 800
CONCURRENT = 12  # twice the API's threads: a worker held by a stuck dependency would show as a late answer


def _timed(fn) -> tuple[httpx.Response, float]:  # type: ignore[no-untyped-def]
    start = time.monotonic()
    answer = fn()
    return answer, time.monotonic() - start


def _burst(base: str, n: int = CONCURRENT, **body: object) -> list[tuple[httpx.Response, float]]:
    def one(_: int) -> tuple[httpx.Response, float]:
        return _timed(lambda: httpx.post(f"{base}/api/v1/requests", json=request_body(**body), timeout=30))

    with cf.ThreadPoolExecutor(n) as ex:
        return list(ex.map(one, range(n)))


def _core(database_url: str, redis_url: str, key_prefix: str, **settings: object) -> Core:
    return bootstrap(Settings(rate_limits_enabled=False, db_statement_timeout_ms=STATEMENT_MS, **settings),
                     database_url=database_url, redis_url=redis_url, key_prefix=key_prefix,
                     geocoder=OfflineGeocoder())


@pytest.fixture
def db_core(clean_db: sa.Engine, database_url: str, server_urls: tuple[str, str], key_prefix: str) -> Iterator[Core]:
    core = _core(database_url, server_urls[1], key_prefix)
    yield core
    core.close()


def _session_setting(engine: sa.Engine, name: str) -> str:
    with engine.connect() as c:
        return str(c.exec_driver_sql(f"SHOW {name}").scalar_one())


def test_every_session_carries_the_statement_and_idle_transaction_timeouts(db_core: Core) -> None:
    assert _session_setting(db_core.engine, "statement_timeout") == f"{STATEMENT_MS}ms", "statement_timeout"
    assert _session_setting(db_core.engine, "idle_in_transaction_session_timeout") == "10s", \
        "idle_in_transaction_session_timeout (default 10 s)"


def test_a_submission_stuck_behind_a_lock_is_refused_503_naming_the_database_in_bounded_time(
        report, db_core: Core, database_url: str) -> None:
    with serving(db_core) as base, table_locked(database_url, "service_request"):
        answers = _burst(base)
        live, live_s = _timed(lambda: httpx.get(f"{base}/health/live", timeout=5))
    slowest = max(s for _, s in answers)
    statuses = sorted({a.status_code for a, _ in answers})
    report(f"\nlocked table: {len(answers)} concurrent submissions, statuses {statuses},"
           f" slowest answer {slowest:.2f} s (statement_timeout {STATEMENT_MS} ms)")
    assert all(a.status_code == 503 for a, _ in answers), "a submission that cannot be stored in time is refused"
    assert all(a.json()["service"] == "database" for a, _ in answers), "the 503 names the database"
    assert all("call us on" in a.json()["detail"] for a, _ in answers), "the 503 gives the phone number"
    assert slowest < 2 * 3 * STATEMENT_MS / 1000 + 2, "answered within a few statement timeouts, queue included"
    assert live.status_code == 200 and live_s < 1, "the process still answers at once"
    with serving(db_core) as base:
        after = httpx.post(f"{base}/api/v1/requests", json=request_body(), timeout=10)
    assert after.status_code == 201, "once the lock is gone, submissions are stored again"


@pytest.fixture
def limited_role(clean_db: sa.Engine, database_url: str) -> Iterator[str]:
    """A login role of this test with the app's timeouts as role defaults (what works through PgBouncer); its URL."""
    role = f"th_role_{secrets.token_hex(4)}"
    settings = Settings(db_statement_timeout_ms=STATEMENT_MS)
    with clean_db.connect().execution_options(isolation_level="AUTOCOMMIT") as c:
        c.exec_driver_sql(f"CREATE ROLE {role} LOGIN")
        c.exec_driver_sql(f"GRANT ALL ON ALL TABLES IN SCHEMA public TO {role}")
        c.exec_driver_sql(f"GRANT ALL ON ALL SEQUENCES IN SCHEMA public TO {role}")
        for sql in db.role_timeouts_sql(settings, role):
            c.exec_driver_sql(sql)
    try:
        yield make_url(database_url).set(username=role, password=None).render_as_string(hide_password=False)
    finally:
        with clean_db.connect().execution_options(isolation_level="AUTOCOMMIT") as c:
            c.exec_driver_sql(f"DROP OWNED BY {role}")
            c.exec_driver_sql(f"DROP ROLE {role}")


def test_role_defaults_bound_statements_when_startup_options_are_off(limited_role: str, server_urls,
                                                                    key_prefix: str) -> None:
    core = _core(limited_role, server_urls[1], key_prefix, db_startup_options=False)
    try:
        assert _session_setting(core.engine, "statement_timeout") == f"{STATEMENT_MS}ms", \
            "the role's default applies without startup options"
        with serving(core) as base, table_locked(limited_role, "service_request"):
            answer, seconds = _timed(lambda: httpx.post(f"{base}/api/v1/requests", json=request_body(), timeout=30))
        assert answer.status_code == 503, "refused once the role's statement_timeout fires"
        assert seconds < 3 * STATEMENT_MS / 1000 + 1, f"answered in bounded time ({seconds:.2f} s)"
    finally:
        core.close()


def test_a_session_without_timeouts_is_reported_at_start_up(database_url: str) -> None:
    """Startup options off and no role defaults (a pooler dropped them): the first connection logs it."""
    code = ("from core.infra.logs import configure; configure(json=True)\n"
            "from core.config import Settings; from core.infra import db\n"
            f"s = Settings(db_startup_options=False); e = db.make_engine({database_url!r})\n"
            "db.check_timeouts(e, s); e.connect().close()\n")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60,
                         cwd=db.ROOT)
    assert "db_timeouts_missing" in out.stderr, f"a warning names the missing timeouts: {out.stderr[-500:]}"
    assert "ALTER ROLE CURRENT_USER SET statement_timeout" in out.stderr, "the warning says how to fix it"


def test_a_stopped_redis_costs_bounded_time_and_health_names_it(report, clean_db: sa.Engine, database_url: str,
                                                                key_prefix: str) -> None:
    with RedisProcess() as rp:
        core = bootstrap(Settings(rate_limits_enabled=True), database_url=database_url, redis_url=rp.url,
                         key_prefix=key_prefix, geocoder=OfflineGeocoder())
        try:
            with serving(core) as base:
                assert httpx.get(f"{base}/health", timeout=5).status_code == 200, "ready before the fault"
                assert rp.proc is not None
                os.kill(rp.proc.pid, signal.SIGSTOP)  # accepts connections, answers nothing
                # Longer than the burst: the second burst must meet the breakers still open.
                core.limiter.breaker.retry_s = core.bus.breaker.retry_s = 60
                try:
                    health, health_s = _timed(lambda: httpx.get(f"{base}/health", timeout=30))
                    answers = _burst(base)
                    later = _burst(base)
                finally:
                    os.kill(rp.proc.pid, signal.SIGCONT)
                slowest, later_slowest = max(s for _, s in answers), max(s for _, s in later)
                report(f"\nstopped redis: /health {health.status_code} in {health_s:.2f} s; {len(answers)} concurrent"
                       f" submissions {sorted({a.status_code for a, _ in answers})}, slowest {slowest:.2f} s; "
                       f"the next {len(later)} (breakers open) slowest {later_slowest:.2f} s")
                assert health.status_code == 503, "not ready without Redis"
                assert health.json()["checks"]["redis"] is False, "the failing check is Redis"
                assert health.json()["checks"]["database"] is True, "the database check still passes"
                assert health_s < 2.5, "readiness answers within Redis's timeouts"
                assert all(a.status_code == 201 for a, _ in answers), "requests are still accepted (PostgreSQL first)"
                assert slowest < 8, "the first calls each pay Redis's timeouts, in bounded time"
                assert all(a.status_code == 201 for a, _ in later), "later requests are accepted too"
                assert later_slowest < 2.5, "breakers open: limits and events skip Redis (the index retries each 2 s)"
                deadline = time.monotonic() + 15
                while httpx.get(f"{base}/health", timeout=5).status_code != 200:
                    assert time.monotonic() < deadline, "ready again once Redis answers"
                    time.sleep(0.2)
        finally:
            core.close()


def test_a_geocoder_that_never_answers_times_out_and_the_postcode_is_placed_offline(
        report, clean_db: sa.Engine, database_url: str, server_urls, key_prefix: str) -> None:
    with silent_http_server() as url:
        alone = PostcodesIoGeocoder(url, timeout=0.5)
        start = time.monotonic()
        with pytest.raises(GeocoderUnavailable) as err:
            alone.geocode_postcode("RG1 1AA")
        alone_s = time.monotonic() - start
        assert err.value.service == "geocoder", "the error names the geocoder"
        assert "did not answer within 0.5 s" in err.value.message, "the error says it timed out"
        assert alone_s < 1.5, f"the timeout bounds the call ({alone_s:.2f} s)"
        # The real wiring: postcodes.io first, the shipped centroids when it does not answer.
        core = bootstrap(Settings(rate_limits_enabled=False, geocoder_url=url, geocoder_timeout_s=0.5),
                         database_url=database_url, redis_url=server_urls[1], key_prefix=key_prefix)
        try:
            with serving(core) as base:
                answers = _burst(base, 8, location={"postcode": "RG1 1AA"})
        finally:
            core.close()
    slowest = max(s for _, s in answers)
    report(f"\nsilent geocoder: alone {alone_s:.2f} s; {len(answers)} submissions by postcode "
           f"{sorted({a.status_code for a, _ in answers})}, slowest {slowest:.2f} s")
    assert all(a.status_code == 201 for a, _ in answers), "a postcode is still placed (approximately) offline"
    assert slowest < 3, "each answered within the geocoder's timeout, queue included"
