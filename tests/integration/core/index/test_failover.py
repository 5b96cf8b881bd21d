"""The failover index: PostgreSQL answers while Redis is out, and Redis is tried again only after the pause,
measured on an injected clock (no sleeping)."""

from __future__ import annotations

import socket
import threading
from collections.abc import Iterator

import pytest
import redis
from redis.backoff import NoBackoff
from redis.retry import Retry

from core.context import Core
from core.index import TechFilter
from core.index.failover import FailoverTechnicianIndex
from core.index.redis_index import RedisTechnicianIndex
from tests.factories import add_technicians
from tests.support.clock import FakeClock

READING = (51.4545, -0.9781)
ANYONE = TechFilter(max_age_s=1e9)


def _failover(core: Core, clock: FakeClock, primary: RedisTechnicianIndex | None = None) -> FailoverTechnicianIndex:
    """The core's own Redis index, PostgreSQL fallback and loader, on a clock the test moves."""
    return FailoverTechnicianIndex(primary or core.index.primary, core.index.fallback, core.index.load_all,
                                   clock=clock)


class ClosingServer:
    """A TCP server that counts connections and closes each at once: a Redis that fails every call."""

    def __init__(self) -> None:
        self.sock = socket.create_server(("127.0.0.1", 0))
        self.port: int = self.sock.getsockname()[1]
        self.connections = 0
        self._thread = threading.Thread(target=self._serve, daemon=True)
        self._thread.start()

    def _serve(self) -> None:
        while True:
            try:
                conn, _ = self.sock.accept()
            except OSError:  # closed by the test
                return
            self.connections += 1  # counted before the close the client waits for
            conn.close()

    def close(self) -> None:
        self.sock.close()


@pytest.fixture
def failing_redis() -> Iterator[ClosingServer]:
    server = ClosingServer()
    yield server
    server.close()


def test_a_marked_down_redis_is_not_used_until_the_pause_is_over(core: Core) -> None:
    add_technicians(core, 3, seed=5)
    clock = FakeClock()
    idx = _failover(core, clock)
    assert idx.ensure_built(), "a live Redis is built at once"
    idx.mark_down(5.0)
    assert len(idx.nearest(*READING, 2, ANYONE)) == 2, "PostgreSQL answers while Redis is counted out"
    assert idx.fallbacks == 1, "the lookup during the pause went to PostgreSQL"
    clock.advance(4.9)
    assert not idx.ensure_built(), "no rebuild before the pause is over"
    assert not idx.redis_ok, "Redis is still counted out 0.1 s before the pause ends"
    clock.advance(0.2)
    assert len(idx.nearest(*READING, 2, ANYONE)) == 2, "Redis answers after the pause"
    assert idx.fallbacks == 1, "the lookup after the pause did not go to PostgreSQL"
    assert idx.redis_ok, "Redis is in use again once rebuilt"


def test_retry_now_ends_the_pause(core: Core) -> None:
    add_technicians(core, 2, seed=6)
    idx = _failover(core, FakeClock())
    idx.mark_down(60.0)
    assert not idx.redis_ok, "marked down for a minute"
    idx.retry_now()
    assert idx.ensure_built(), "Redis is tried, and rebuilt, at once"
    assert idx.redis_ok, "Redis is in use without waiting out the minute"


def test_a_failing_redis_costs_one_attempt_per_pause(core: Core, failing_redis: ClosingServer) -> None:
    add_technicians(core, 2, seed=7)
    client = redis.Redis(port=failing_redis.port, socket_timeout=0.5, socket_connect_timeout=0.5,
                         retry=Retry(NoBackoff(), 0))
    clock = FakeClock()
    idx = _failover(core, clock, RedisTechnicianIndex(client, prefix="failover-test:"))
    try:
        assert len(idx.nearest(*READING, 1, ANYONE)) == 1, "PostgreSQL answers when Redis fails"
        tried = failing_redis.connections
        assert tried >= 1, "the first lookup tried Redis"
        for _ in range(5):
            idx.nearest(*READING, 1, ANYONE)
        idx.upsert_many([])
        assert failing_redis.connections == tried, "no call went to Redis during the pause"
        assert idx.fallbacks == 6, "every lookup during the pause went to PostgreSQL"
        clock.advance(FailoverTechnicianIndex.RETRY_AFTER_S)
        idx.nearest(*READING, 1, ANYONE)
        assert failing_redis.connections > tried, "Redis is tried again once the pause is over"
    finally:
        client.close()
