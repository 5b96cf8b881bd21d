"""The pages' policy runs no eval; the map pages' policy runs only their own nonce-bearing scripts."""

from __future__ import annotations

from core.config import Settings
from tyrehero_app.api.csp import map_csp, page_csp, tile_source


def _directives(policy: str) -> dict[str, list[str]]:
    return {d.split()[0]: d.split()[1:] for d in policy.split("; ")}


def test_the_pages_policy_has_no_unsafe_eval() -> None:
    scripts = _directives(page_csp(Settings()))["script-src"]
    assert "'unsafe-eval'" not in scripts, "the scripts' CSP allows no 'unsafe-eval'"
    assert "'self'" in scripts, "the scripts may come from 'self'"


def test_the_map_policy_allows_only_our_files_and_the_nonce() -> None:
    d = _directives(map_csp(Settings(), "abc123"))
    assert d["script-src"] == ["'self'", "'nonce-abc123'"]
    assert d["default-src"] == ["'none'"], "default-src is 'none'"
    assert d["frame-ancestors"] == ["'self'"], "only our own pages may frame it"
    assert "https://tile.openstreetmap.org" in d["img-src"]


def test_tile_hosts_become_sources_and_subdomain_placeholders_wildcards() -> None:
    assert tile_source("https://{s}.tile.example.org/{z}/{x}/{y}.png") == "https://*.tile.example.org"
    assert tile_source("http://localhost:8080/{z}/{x}/{y}.png") == "http://localhost:8080"
    assert tile_source("/tiles/{z}/{x}/{y}.png") == ""
