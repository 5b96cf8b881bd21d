"""The session cookie is Secure in production whatever the request says; elsewhere when HTTPS is known."""

from __future__ import annotations

import secrets

from starlette.requests import Request

from core.config import Settings
from tyrehero_app.api.cookies import cookie_secure


def _request(scheme: str = "http", peer: str = "203.0.113.5", proto: str | None = None) -> Request:
    headers = [(b"x-forwarded-proto", proto.encode())] if proto else []
    return Request({"type": "http", "scheme": scheme, "method": "POST", "path": "/auth/login", "headers": headers,
                    "client": (peer, 5000), "server": ("app", 80), "query_string": b""})


def test_production_cookies_are_secure_even_over_plain_http() -> None:
    prod = Settings(environment="production", secret_key=secrets.token_hex(32), phone_key=secrets.token_hex(32),
                    demo_mode=False, seed_demo_data=False, metrics_token=secrets.token_hex(32),
                    notify_provider="twilio", twilio_account_sid="AC1", twilio_auth_token="t",
                    twilio_from="+447700900123", public_base_url="https://tyrehero.example", web_push=False)
    assert cookie_secure(prod, _request("http"))


def test_development_follows_the_scheme() -> None:
    assert not cookie_secure(Settings(), _request("http"))
    assert cookie_secure(Settings(), _request("https"))


def test_a_forwarded_https_counts_only_from_a_trusted_proxy() -> None:
    assert not cookie_secure(Settings(), _request(peer="10.0.0.2", proto="https"))
    assert cookie_secure(Settings(trusted_proxies="10.0.0.0/8"), _request(peer="10.0.0.2", proto="https"))
