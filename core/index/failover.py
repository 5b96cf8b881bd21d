"""Redis first, PostgreSQL when Redis is unreachable or lost its data; rebuilt when it returns.

After a failure Redis is left alone for `RETRY_AFTER_S` seconds of the injected monotonic `clock`, so a dead
Redis costs one timeout per pause rather than one per call."""

from __future__ import annotations

import logging
import math
import threading
import time
from collections.abc import Callable, Iterable

import redis

from core.index.base import Candidate, IndexedTech, TechFilter
from core.index.cluster_index import RedisClusterTechnicianIndex
from core.index.pg_index import PostgresTechnicianIndex
from core.index.redis_index import RedisTechnicianIndex

log = logging.getLogger(__name__)


class FailoverTechnicianIndex:
    """The index the services use. Writes to Redis are best effort: PostgreSQL holds the truth."""

    RETRY_AFTER_S = 2.0

    def __init__(
        self,
        primary: RedisTechnicianIndex | RedisClusterTechnicianIndex,
        fallback: PostgresTechnicianIndex,
        load_all: Callable[[], Iterable[IndexedTech]],
        *,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.primary = primary
        self.fallback = fallback
        self.load_all = load_all
        self.clock = clock
        self._down_until = -math.inf
        self._needs_rebuild = True
        self._need_since = time.time()  # when the current need for a rebuild arose
        self._lock = threading.Lock()
        self.lookups = 0
        self.fallbacks = 0

    @property
    def redis_ok(self) -> bool:
        return self.clock() >= self._down_until and not self._needs_rebuild

    def mark_down(self, seconds: float | None = None) -> None:
        """Count Redis as out for `seconds` (default `RETRY_AFTER_S`): PostgreSQL answers meanwhile, and the
        index is rebuilt from PostgreSQL when Redis is next tried."""
        self._down_until = self.clock() + (self.RETRY_AFTER_S if seconds is None else seconds)
        if not self._needs_rebuild:
            self._need_since = time.time()
        self._needs_rebuild = True

    def retry_now(self) -> None:
        """End the pause after a failure: the next call tries Redis again (for when it is known to be back)."""
        self._down_until = -math.inf

    def _failed(self, e: Exception) -> None:
        log.warning("technician index: Redis unavailable (%s); using PostgreSQL", e.__class__.__name__)
        self.mark_down()

    def ensure_built(self, force: bool = False) -> bool:
        """Rebuild from PostgreSQL when needed (start, after an outage, after data loss)."""
        if self.clock() < self._down_until:
            return False
        with self._lock:
            try:
                if force or self._needs_rebuild or not self.primary.is_built():
                    # Unless forced, a rebuild another process finished since the need arose will do.
                    since = None if force else (self._need_since if self._needs_rebuild else time.time())
                    n = self.primary.rebuild(self.load_all(), unless_built_after=since)
                    log.info("technician index rebuilt from PostgreSQL: %d technicians", n)
                self._needs_rebuild = False
                return True
            except redis.RedisError as e:
                self._failed(e)
                return False

    def nearest(self, lat: float, lng: float, n: int, f: TechFilter) -> list[Candidate]:
        self.lookups += 1
        if self.redis_ok or self.ensure_built():
            try:
                return self.primary.nearest(lat, lng, n, f)
            except redis.RedisError as e:
                self._failed(e)
        self.fallbacks += 1
        return self.fallback.nearest(lat, lng, n, f)

    def _write(self, fn: Callable[[], object]) -> object | None:
        if not self.redis_ok:
            return None
        try:
            return fn()
        except redis.RedisError as e:
            self._failed(e)
            return None

    def upsert(self, tech: IndexedTech) -> None:
        self._write(lambda: self.primary.upsert(tech))

    def upsert_many(self, techs: list[IndexedTech]) -> None:
        self._write(lambda: self.primary.upsert_many(techs))

    def remove(self, tech_id: int) -> None:
        self._write(lambda: self.primary.remove(tech_id))

    def try_claim(self, tech_id: int) -> bool | None:
        """CAS available -> assigned in Redis: True won, False lost, None when Redis is out."""
        result = self._write(lambda: self.primary.set_status(tech_id, "assigned", expected="available"))
        return None if result is None else bool(result)
