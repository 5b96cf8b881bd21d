"""Forwarded addresses over real HTTP: believed only from TRUSTED_PROXIES; limits count an IPv6 /64 as one."""

from __future__ import annotations

import httpx
import pytest

from core.config import parse_networks
from core.context import Core
from core.infra.ratelimit import RateLimiter
from tests.integration.api.edge_support import configure


def _limited(core: Core, **update: object) -> Core:
    configure(core, rate_limits_enabled=True, rate_limit_tracking_per_ip=3, **update)
    core.limiter = RateLimiter(core.redis, prefix=core.limiter.prefix, enabled=True)
    return core


@pytest.fixture
def limited_behind_proxy(core: Core) -> Core:
    return _limited(core, trusted_proxies=parse_networks("127.0.0.1"))


@pytest.fixture
def limited_direct(core: Core) -> Core:
    return _limited(core)


def _track(server, forwarded: str) -> int:  # type: ignore[no-untyped-def]
    return httpx.get(
        f"{server.url}/api/v1/requests/track/NoSuchToken", headers={"X-Forwarded-For": forwarded}
    ).status_code


def test_addresses_in_one_ipv6_64_share_one_allowance(limited_behind_proxy: Core, api_server) -> None:
    codes = [_track(api_server, f"2001:db8:0:7::{i}") for i in range(1, 5)]
    assert codes == [404, 404, 404, 429]
    assert _track(api_server, "2001:db8:0:8::1") == 404  # the next /64 is someone else
    # IPv4: per address
    assert _track(api_server, "203.0.113.1") == 404, "wanted _track(api_server, '203.0.113.1') == 404"
    assert _track(api_server, "203.0.113.2") == 404, "wanted _track(api_server, '203.0.113.2') == 404"


def test_without_a_trusted_proxy_the_forwarded_address_changes_nothing(limited_direct: Core, api_server) -> None:
    codes = [_track(api_server, f"2001:db8:{i}::1") for i in range(1, 5)]
    assert codes == [404, 404, 404, 429]  # every call counted against the real peer
