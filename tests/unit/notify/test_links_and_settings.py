"""The production profile's notification settings, and the relay's back-off."""

from __future__ import annotations

import secrets
from types import SimpleNamespace

import pytest
from pydantic import ValidationError

from core.config import Settings, describe_errors
from core.notify.providers import LogProvider, make_provider
from core.notify.providers.twilio import TwilioProvider
from core.notify.relay import Relay
from core.vapid import new_private_key

SAFE = {"secret_key": secrets.token_hex(32), "phone_key": secrets.token_hex(32), "demo_mode": False,
        "seed_demo_data": False, "metrics_token": secrets.token_hex(32), "vapid_private_key": new_private_key()}
TWILIO = {"notify_provider": "twilio", "twilio_account_sid": "AC" + "1" * 32, "twilio_auth_token": "t" * 32,
          "twilio_from": "+447700900123", "public_base_url": "https://tyrehero.example"}


def _problems(**values: object) -> list[str]:
    with pytest.raises(ValidationError) as e:
        Settings(environment="production", **values)
    return describe_errors(e.value)


def test_production_refuses_the_log_provider() -> None:
    lines = _problems(**SAFE)
    assert len(lines) == 1, f"problems: {lines}"
    assert lines[0].startswith("NOTIFY_PROVIDER must be twilio"), lines[0]


def test_production_with_twilio_names_each_missing_twilio_setting() -> None:
    lines = _problems(**SAFE, notify_provider="twilio", public_base_url="http://tyrehero.example")
    for name in ("TWILIO_ACCOUNT_SID", "TWILIO_FROM", "TWILIO_AUTH_TOKEN", "PUBLIC_BASE_URL"):
        assert sum(line.startswith(name) for line in lines) == 1, (name, lines)


def test_production_accepts_twilio_fully_configured() -> None:
    assert Settings(environment="production", **SAFE, **TWILIO).notify_provider == "twilio", "accepted"


def test_a_public_base_url_that_is_no_url_is_refused() -> None:
    with pytest.raises(ValidationError, match="is not a base URL"):
        Settings(public_base_url="tyrehero.example")


def test_settings_choose_the_provider() -> None:
    assert isinstance(make_provider(Settings()), LogProvider), "log by default"
    assert isinstance(make_provider(Settings(**TWILIO)), TwilioProvider), "twilio when chosen"


@pytest.mark.parametrize(("attempt", "low", "high"), [(1, 2.5, 5), (2, 5, 10), (4, 20, 40), (20, 450, 900)])
def test_backoff_doubles_with_jitter_up_to_the_cap(attempt: int, low: float, high: float) -> None:
    settings = Settings(notify_retry_base_s=5, notify_retry_max_s=900)
    lowest = Relay(SimpleNamespace(settings=settings), LogProvider(), rng=lambda: 0.0)  # type: ignore[arg-type]
    highest = Relay(SimpleNamespace(settings=settings), LogProvider(), rng=lambda: 1.0)  # type: ignore[arg-type]
    assert lowest.backoff_s(attempt) == low, "half the ceiling at the lowest draw"
    assert highest.backoff_s(attempt) == high, "the ceiling at the highest draw"
