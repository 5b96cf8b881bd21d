"""Fixtures of the integration tiers beyond the shared ones in tests/conftest.py."""

from __future__ import annotations

import secrets
from collections.abc import Iterator

import pytest

from core.bootstrap import bootstrap
from core.config import Settings
from core.context import Core
from core.geo.geocode import OfflineGeocoder
from core.vapid import new_private_key


@pytest.fixture
def prod_core(clean_db, database_url: str, server_urls: tuple[str, str], key_prefix: str) -> Iterator[Core]:  # type: ignore[no-untyped-def]
    """The real core with production settings (random secrets, no demo): where two-factor sign-in is required."""
    settings = Settings(
        environment="production",
        secret_key=secrets.token_urlsafe(32),
        phone_key=secrets.token_urlsafe(32),
        metrics_token=secrets.token_hex(32),
        demo_mode=False,
        seed_demo_data=False,
        rate_limits_enabled=False,
        notify_provider="twilio",
        twilio_account_sid="AC" + secrets.token_hex(16),
        twilio_auth_token=secrets.token_hex(16),
        twilio_from="+447700900123",
        public_base_url="https://tyrehero.example",
        vapid_private_key=new_private_key(),
    )
    c = bootstrap(settings, database_url=database_url, redis_url=server_urls[1], key_prefix=key_prefix,
                  geocoder=OfflineGeocoder(), pool_size=10)
    yield c
    c.close()
