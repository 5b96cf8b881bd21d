"""Settings: the production profile refuses every unsafe setting at once; list settings parse and explain."""

from __future__ import annotations

import ipaddress
import secrets

import pytest
from pydantic import ValidationError

from core.config import LOOPBACK, Environment, InsecureProduction, Settings, describe_errors, normalise_origin
from core.vapid import new_private_key

SAFE = {"secret_key": secrets.token_hex(32), "phone_key": secrets.token_hex(32), "demo_mode": False,
        "seed_demo_data": False, "metrics_token": secrets.token_hex(32),
        "notify_provider": "twilio", "twilio_account_sid": "AC" + secrets.token_hex(16),
        "twilio_auth_token": secrets.token_hex(16), "twilio_from": "+447700900123", "public_base_url": "https://tyrehero.example",
        "vapid_private_key": new_private_key()}


def problems_of(**values: object) -> list[str]:
    with pytest.raises(ValidationError) as e:
        Settings(environment="production", **values)
    return describe_errors(e.value)


def test_production_without_anything_set_names_every_problem_at_once() -> None:
    lines = problems_of()
    assert len(lines) == 7
    for name in ("SECRET_KEY", "PHONE_KEY", "DEMO_MODE", "SEED_DEMO_DATA", "METRICS_TOKEN", "NOTIFY_PROVIDER",
                 "VAPID_PRIVATE_KEY"):
        assert sum(line.startswith(name) for line in lines) == 1, (name, lines)
    assert not any("Value error" in line for line in lines)


@pytest.mark.parametrize("field", ["secret_key", "phone_key", "demo_mode", "seed_demo_data", "metrics_token"])
def test_production_names_only_the_one_setting_left_unsafe(field: str) -> None:
    unsafe = {"secret_key": "x" * 31, "phone_key": "dev-only-secret-change-me", "demo_mode": True,
              "seed_demo_data": True, "metrics_token": None}[field]
    lines = problems_of(**{**SAFE, field: unsafe})
    assert len(lines) == 1, "wanted len(lines) == 1"
    assert lines[0].startswith(field.upper()), "wanted lines[0].startswith(field.upper())"


def test_production_accepts_safe_settings_with_a_token_or_an_address_list() -> None:
    with_token = Settings(environment="production", **SAFE)
    assert with_token.environment is Environment.production
    assert with_token.metrics_allow_from == ()  # nobody by address unless configured
    by_address = Settings(environment="production", **{**SAFE, "metrics_token": None}, metrics_allow_from="10.0.0.0/8")
    assert by_address.metrics_allow_from == (ipaddress.ip_network("10.0.0.0/8"),)


def test_a_short_metrics_token_is_refused_in_production() -> None:
    lines = problems_of(**{**SAFE, "metrics_token": "short"})
    assert lines == ["METRICS_TOKEN must be 32+ characters"]


def test_the_refusal_is_one_exception_carrying_every_problem() -> None:
    with pytest.raises(ValidationError) as e:
        Settings(environment="production")
    cause = e.value.errors()[0]["ctx"]["error"]
    assert isinstance(cause, InsecureProduction), "wanted isinstance(cause, InsecureProduction)"
    assert len(cause.problems) == 7, "wanted len(cause.problems) == 7"


def test_development_keeps_the_friendly_demo_and_loopback_metrics() -> None:
    s = Settings()
    assert s.environment is Environment.development
    assert s.demo_mode, "wanted s.demo_mode"
    assert s.seed_demo_data, "wanted s.seed_demo_data"
    assert s.metrics_allow_from == LOOPBACK
    assert s.cors_origins == (), f"s.cors_origins is {s.cors_origins!r}, wanted ()"
    assert s.trusted_proxies == (), f"s.trusted_proxies is {s.trusted_proxies!r}, wanted ()"


def test_network_lists_read_commas_spaces_or_json_and_bare_addresses() -> None:
    s = Settings(trusted_proxies="10.0.0.0/8, 192.168.1.7 2001:db8::/32", metrics_allow_from='["::1"]')
    assert s.trusted_proxies == (ipaddress.ip_network("10.0.0.0/8"), ipaddress.ip_network("192.168.1.7/32"),
                                 ipaddress.ip_network("2001:db8::/32"))
    assert s.metrics_allow_from == (ipaddress.ip_network("::1/128"),)
    assert Settings(metrics_allow_from="").metrics_allow_from == ()  # explicitly nobody


def test_environment_variables_are_read_as_lists(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TRUSTED_PROXIES", "10.1.2.3/8,fd00::/8")
    monkeypatch.setenv("CORS_ORIGINS", "https://www.tyrehero.example")
    s = Settings()
    assert s.trusted_proxies == (ipaddress.ip_network("10.0.0.0/8"), ipaddress.ip_network("fd00::/8"))
    assert s.cors_origins == ("https://www.tyrehero.example",)


def test_bad_list_entries_are_named_by_their_variable() -> None:
    with pytest.raises(ValidationError) as e:
        Settings(trusted_proxies="10.0.0.0/8, proxy.local", cors_origins="*")
    lines = describe_errors(e.value)
    assert any(line.startswith("TRUSTED_PROXIES: 'proxy.local' is not an IP address") for line in lines)
    assert any(line.startswith("CORS_ORIGINS: '*' is not allowed") for line in lines)


@pytest.mark.parametrize(("given", "expected"), [
    ("https://WWW.Example.org/", "https://www.example.org"),
    ("https://example.org:443", "https://example.org"),
    ("http://example.org:80", "http://example.org"),
    ("http://localhost:3000", "http://localhost:3000"),
    ("http://[::1]:3000", "http://[::1]:3000"),
])
def test_origins_are_normalised_as_browsers_send_them(given: str, expected: str) -> None:
    assert normalise_origin(given) == expected


@pytest.mark.parametrize("bad", ["*", "example.org", "https://example.org/app", "ftp://example.org", "null",
                                 "https://example.org?x=1", "https://example.org:99999"])
def test_things_that_are_not_origins_are_refused(bad: str) -> None:
    with pytest.raises(ValueError):
        normalise_origin(bad)
