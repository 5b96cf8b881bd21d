"""Fixed-window rate limits in Redis. If Redis is down, requests pass: an emergency is never refused
because a counter cannot be read."""

from __future__ import annotations

import ipaddress
import logging
from dataclasses import dataclass

import redis

from core.errors import DomainError

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
    def __init__(self, client: redis.Redis, prefix: str = "th:rl:", enabled: bool = True) -> None:
        self.r = client
        self.prefix = prefix
        self.enabled = enabled

    def hit(self, key: str, limit: Limit, message: str) -> None:
        """Count one hit for `key`; raise RateLimited when the window's allowance is used up."""
        if not self.enabled:
            return
        k = f"{self.prefix}{key}"
        try:
            # The window starts with the first hit (SET NX EX) and INCR keeps its expiry; MULTI so the key
            # cannot expire between the two and be counted forever. Works on Redis 6.2 (the embedded
            # server), which has no EXPIRE NX.
            pipe = self.r.pipeline(transaction=True)
            pipe.set(k, 0, ex=limit.window_s, nx=True)
            pipe.incr(k)
            pipe.ttl(k)
            _, count, ttl = pipe.execute()
        except redis.RedisError as e:
            log.warning("rate limit not checked (%r)", e)
            return
        if count > limit.count:
            raise RateLimited(message, max(1, int(ttl)))
