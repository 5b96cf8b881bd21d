"""What a request spends on PostgreSQL and Redis is summed in its context, failed and stuck calls included."""

from __future__ import annotations

import os
import signal

import pytest
import redis
import sqlalchemy as sa

from core.infra import db, timing
from tests.support.redis_server import RedisProcess


@pytest.fixture
def timed_engine(database_url: str):  # type: ignore[no-untyped-def]
    engine = db.make_engine(database_url, pool_size=2, options="-c statement_timeout=300")
    db.log_slow_queries(engine, 10_000)  # the statement hooks that also feed the timings
    yield engine
    engine.dispose()


def test_statement_time_is_summed_in_the_current_context(timed_engine: sa.Engine) -> None:
    with timing.measuring() as spent, timed_engine.connect() as c:
        c.exec_driver_sql("SELECT pg_sleep(0.2)")
    assert spent.db_s >= 0.2, f"the statement's 0.2 s is counted ({spent.db_s:.3f} s)"


def test_a_statement_cancelled_by_its_timeout_counts_too(timed_engine: sa.Engine) -> None:
    with timing.measuring() as spent, timed_engine.connect() as c, pytest.raises(sa.exc.OperationalError):
        c.exec_driver_sql("SELECT pg_sleep(5)")
    assert spent.db_s >= 0.3, f"the 0.3 s until the timeout is counted ({spent.db_s:.3f} s)"


def test_nothing_is_summed_outside_a_measured_context(timed_engine: sa.Engine) -> None:
    with timed_engine.connect() as c:
        c.exec_driver_sql("SELECT 1")
    with timing.measuring() as spent:
        pass
    assert spent.db_s == 0, "a statement before the measurement is not counted in it"


def test_redis_waits_are_summed_including_a_stuck_server() -> None:
    with RedisProcess() as rp:
        client = timing.time_redis(redis.Redis.from_url(rp.url, socket_timeout=0.3))
        with timing.measuring() as quick:
            client.ping()
        assert quick.redis_s > 0, "a reply's wait is counted"
        assert rp.proc is not None
        os.kill(rp.proc.pid, signal.SIGSTOP)
        try:
            with timing.measuring() as stuck, pytest.raises(redis.TimeoutError):
                client.get("k")
        finally:
            os.kill(rp.proc.pid, signal.SIGCONT)
        client.close()
    assert stuck.redis_s >= 0.3, f"the wait until the timeout is counted ({stuck.redis_s:.3f} s)"
