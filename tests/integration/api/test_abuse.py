"""Rate limits, security headers, metrics, request ids and encrypted phone numbers."""

from __future__ import annotations

import re

import httpx
import pytest
import sqlalchemy as sa

from core.context import Core
from core.infra.ratelimit import RateLimiter
from tests.factories import random_mobile, request_body
from tests.support.redis_server import free_port


@pytest.fixture
def limited(core: Core) -> Core:
    core.settings = core.settings.model_copy(update={"rate_limits_enabled": True, "rate_limit_requests_per_ip": 5,
                                                     "rate_limit_requests_per_phone": 2})
    core.limiter = RateLimiter(core.redis, prefix=core.limiter.prefix, enabled=True)
    return core


def test_per_phone_limit(limited: Core, api_server) -> None:
    phone = random_mobile()
    codes = []
    for _ in range(3):
        r = httpx.post(f"{api_server.url}/api/v1/requests", json=request_body(phone=phone))
        codes.append(r.status_code)
    assert codes[:2] == [201, 409], "the number's request is open: the second is a 409, and counts too"
    assert codes[2] == 429, "the third from one number is refused"
    assert int(r.headers["Retry-After"]) > 0, "the refusal says when to retry"
    assert "call us" in r.json()["detail"], "the refusal gives the phone number"


def test_per_ip_limit(limited: Core, api_server) -> None:
    codes = [httpx.post(f"{api_server.url}/api/v1/requests", json=request_body()).status_code for _ in range(7)]
    assert codes[:5] == [201] * 5, "five from one address are taken"
    assert codes[5:] == [429, 429], "the sixth and seventh are refused"
    with limited.engine.connect() as c:
        assert c.execute(sa.text("SELECT count(*) FROM service_request")).scalar_one() == 5


def test_headers_and_request_id(core: Core, api_server) -> None:
    r = httpx.get(f"{api_server.url}/health", headers={"X-Request-ID": "abc123"})
    assert r.headers["x-request-id"] == "abc123"
    assert r.headers["x-content-type-options"] == "nosniff"
    assert r.headers["referrer-policy"] == "no-referrer"
    csp = r.headers["content-security-policy"]
    assert "frame-ancestors 'self'" in csp, "no framing by other sites"
    assert "frame-src 'self'" in csp, "frames from ourselves only"
    assert "object-src 'none'" in csp, "no plugins"
    assert "strict-transport-security" not in r.headers  # plain HTTP here
    tls = httpx.get(f"{api_server.url}/health", headers={"X-Forwarded-Proto": "https"})
    assert tls.headers["strict-transport-security"].startswith("max-age=")
    assert len(httpx.get(f"{api_server.url}/health/live").headers["x-request-id"]) == 32


def test_metrics(core: Core, api_server) -> None:
    httpx.post(f"{api_server.url}/api/v1/requests", json=request_body())
    text = httpx.get(f"{api_server.url}/metrics").text
    assert re.search(
        r'tyrehero_http_request_seconds_count\{method="POST",route="/api/v1/requests",status="201"\} \d', text
    )
    for metric in ("tyrehero_requests_open", "tyrehero_dispatch_seconds_bucket", "tyrehero_index_lookups_total",
                   "tyrehero_technicians"):
        assert metric in text, f"{metric} is exported"


def test_no_plaintext_phone_in_the_database(core: Core, api_server) -> None:
    phone = "07911 765432"
    httpx.post(f"{api_server.url}/api/v1/requests", json=request_body(phone=phone))
    with core.engine.connect() as c:
        dump = " ".join(str(v) for row in c.execute(sa.text("SELECT * FROM service_request")) for v in row)
        dump += " ".join(str(v) for row in c.execute(sa.text("SELECT * FROM request_event")) for v in row)
    for form in ("7911765432", "07911 765432", "+447911765432", "07911765432"):
        assert form not in dump


def test_a_window_allows_its_count_then_refuses_with_a_retry_after_within_the_window(core: Core) -> None:
    from core.infra.ratelimit import Limit, RateLimited

    limiter = RateLimiter(core.redis, prefix=core.limiter.prefix, enabled=True)
    for _ in range(3):
        limiter.hit("probe", Limit(3, 60), "slow down")
    with pytest.raises(RateLimited) as e:
        limiter.hit("probe", Limit(3, 60), "slow down")
    assert e.value.message == "slow down", "the caller's message is the one raised"
    assert 0 < e.value.retry_after_s <= 60, "Retry-After points inside the 60 s window"


def test_every_rate_limit_key_stays_under_the_prefix_and_expires(core: Core) -> None:
    from core.infra.ratelimit import Limit

    limiter = RateLimiter(core.redis, prefix=core.limiter.prefix, enabled=True)
    limiter.hit("probe", Limit(3, 60), "slow down")
    keys = list(core.redis.scan_iter(match=f"{core.limiter.prefix}*"))
    assert keys, "the hit is stored under the limiter's prefix"
    assert all(0 < core.redis.ttl(k) <= 60 for k in keys), "never a counter without an expiry"


def test_a_limiter_without_redis_lets_every_hit_through() -> None:
    import redis

    from core.infra.ratelimit import Limit

    limiter = RateLimiter(redis.Redis(host="127.0.0.1", port=free_port(), socket_connect_timeout=0.2), enabled=True)
    for _ in range(3):
        limiter.hit("probe", Limit(1, 60), "slow down")  # raises nothing: an emergency is never refused
