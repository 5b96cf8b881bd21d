"""Time one request spends waiting on PostgreSQL and on Redis, summed for the slow-request log.

The edge starts a `Spent` per request (`measuring`); the database's statement hooks (`core.infra.db`) and
Redis's connections (`time_redis`) add to the one in the current context. Worker threads see it too: the
API runs blocking endpoints with a copy of the request's context, which holds the same object. Outside a
request (lifespan tasks, scripts) nothing is summed.
"""

from __future__ import annotations

import functools
import time
from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass
from typing import Any

import redis


@dataclass
class Spent:
    """Seconds spent in statements and in Redis commands (a pipeline's round trip counts once per reply read)."""

    db_s: float = 0.0
    redis_s: float = 0.0


_current: ContextVar[Spent | None] = ContextVar("tyrehero_spent", default=None)


@contextmanager
def measuring() -> Iterator[Spent]:
    """Sum what the code inside spends on PostgreSQL and Redis."""
    spent = Spent()
    token = _current.set(spent)
    try:
        yield spent
    finally:
        _current.reset(token)


def add_db(seconds: float) -> None:
    spent = _current.get()
    if spent is not None:
        spent.db_s += seconds


def add_redis(seconds: float) -> None:
    spent = _current.get()
    if spent is not None:
        spent.redis_s += seconds


def time_redis(client: redis.Redis) -> redis.Redis:
    """Count the client's waits for replies (where a command's time goes, a stuck server's too) in the
    current request's `Spent`. Call before the client's first command: open connections keep their class."""
    pool = client.connection_pool
    pool.connection_class = _timed(pool.connection_class)
    return client


@functools.cache
def _timed(base: type[Any]) -> type[Any]:
    """A subclass of a redis-py connection class (TCP, TLS or Unix socket) that times `read_response`."""

    def read_response(self: Any, *args: Any, **kwargs: Any) -> Any:
        start = time.perf_counter()
        try:
            return base.read_response(self, *args, **kwargs)
        finally:
            add_redis(time.perf_counter() - start)

    return type(f"Timed{base.__name__}", (base,), {"read_response": read_response})
