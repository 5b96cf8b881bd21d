"""The map pages over real HTTP: their own policy with a fresh nonce; the rest keeps the pages' policy."""

from __future__ import annotations

import re

import httpx

from core.context import Core


def test_map_pages_run_only_their_own_scripts(core: Core, api_server) -> None:
    first = httpx.get(f"{api_server.url}/map/point", params={"lat": 51.45, "lng": -0.97})
    second = httpx.get(f"{api_server.url}/map/point", params={"lat": 51.45, "lng": -0.97})
    policies = []
    for r in (first, second):
        assert r.status_code == 200
        csp = r.headers["content-security-policy"]
        nonce = re.search(r"'nonce-([A-Za-z0-9_-]+)'", csp).group(1)  # type: ignore[union-attr]
        assert "'unsafe-eval'" not in csp, "the CSP allows no 'unsafe-eval'"
        assert "'unsafe-inline'" not in csp.split("script-src")[1].split(";")[0], (
            "the CSP's script-src allows no 'unsafe-inline'"
        )
        scripts = re.findall(r"<script[^>]*>", r.text)
        assert scripts, "wanted scripts"
        assert all(f'nonce="{nonce}"' in s for s in scripts), "every script tag carries the page's nonce"
        assert len(r.headers.get_list("content-security-policy")) == 1  # ours, not the pages' as well
        policies.append(nonce)
    assert policies[0] != policies[1]


def test_other_responses_keep_the_page_policy_without_eval(core: Core, api_server) -> None:
    csp = httpx.get(f"{api_server.url}/health").headers["content-security-policy"]
    assert "'unsafe-eval'" not in csp, "the CSP allows no 'unsafe-eval'"
    assert "default-src 'self'" in csp, "the CSP's default-src is 'self'"


def test_a_tracking_map_for_a_malformed_token_is_refused_before_any_lookup(core: Core, api_server) -> None:
    assert httpx.get(f"{api_server.url}/map/track/abc%22%3E%3Cscript%3E").status_code == 422
