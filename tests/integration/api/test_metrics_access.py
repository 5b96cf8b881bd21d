"""/metrics over real HTTP: a bearer METRICS_TOKEN or an address in METRICS_ALLOW_FROM, nothing else."""

from __future__ import annotations

import secrets

import httpx
import pytest
from pydantic import SecretStr

from core.config import parse_networks
from core.context import Core
from tests.integration.api.edge_support import configure

TOKEN = secrets.token_hex(32)


@pytest.fixture
def metrics_by_address(core: Core) -> Core:
    return configure(core, metrics_allow_from=parse_networks("10.0.0.0/8"), metrics_token=None)


@pytest.fixture
def metrics_by_token(core: Core) -> Core:
    return configure(core, metrics_allow_from=(), metrics_token=SecretStr(TOKEN))


@pytest.fixture
def behind_proxy(core: Core) -> Core:
    return configure(core, trusted_proxies=parse_networks("127.0.0.1"), metrics_allow_from=parse_networks("10.0.0.0/8"))


def test_metrics_are_refused_to_an_address_outside_the_allow_list(metrics_by_address: Core, api_server) -> None:
    r = httpx.get(f"{api_server.url}/metrics")
    assert r.status_code == 403, f"wanted HTTP 403, got {r.status_code}"
    assert "METRICS_ALLOW_FROM" in r.json()["detail"], "'METRICS_ALLOW_FROM' missing from r.json()['detail']"
    assert "tyrehero_" not in r.text


def test_metrics_need_the_token_when_one_is_set(metrics_by_token: Core, api_server) -> None:
    url = f"{api_server.url}/metrics"
    missing = httpx.get(url)
    assert missing.status_code == 401, f"wanted HTTP 401, got {missing.status_code}"
    assert missing.headers["www-authenticate"] == "Bearer", "wanted missing.headers['www-authenticate'] == 'Bearer'"
    assert httpx.get(url, headers={"Authorization": f"Bearer {TOKEN[:-1]}x"}).status_code == 401
    good = httpx.get(url, headers={"Authorization": f"Bearer {TOKEN}"})
    assert good.status_code == 200, f"wanted HTTP 200, got {good.status_code}"
    assert "tyrehero_http_request_seconds" in good.text, "'tyrehero_http_request_seconds' missing from good.text"


def test_a_trusted_proxy_can_vouch_for_an_allowed_address(behind_proxy: Core, api_server) -> None:
    url = f"{api_server.url}/metrics"
    assert httpx.get(url, headers={"X-Forwarded-For": "10.1.2.3"}).status_code == 200
    assert httpx.get(url, headers={"X-Forwarded-For": "10.1.2.3, 198.51.100.7"}).status_code == 403
    assert httpx.get(url).status_code == 403  # the proxy itself is not in the allow list


def test_an_untrusted_caller_cannot_claim_an_allowed_address(metrics_by_address: Core, api_server) -> None:
    assert httpx.get(f"{api_server.url}/metrics", headers={"X-Forwarded-For": "10.1.2.3"}).status_code == 403
