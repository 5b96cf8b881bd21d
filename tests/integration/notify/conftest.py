"""Fixtures of the notification tests: the Twilio stand-in, a core that sends through it, a clock."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import datetime, timedelta

import pytest
import sqlalchemy as sa

from core.config import Settings
from core.context import Core
from core.models import utcnow
from core.notify.providers.twilio import TwilioProvider
from core.notify.relay import Relay
from core.phones import normalise_uk_mobile
from core.requests.intake import submit_request
from core.schemas import RequestCreate
from tests.factories import request_body
from tests.integration.notify import twilio_stub
from tests.integration.notify.twilio_stub import TwilioStub

SENDER = "+447700900000"


class Clock:
    """The wall clock, moved ahead when the test says so (leases and back-off end without sleeping). It runs
    with real time too: rows the database stamps with now() are due by it."""

    def __init__(self) -> None:
        self.offset = timedelta(0)

    def __call__(self) -> datetime:
        return utcnow() + self.offset

    @property
    def now(self) -> datetime:
        return self()

    def advance(self, seconds: float) -> None:
        self.offset += timedelta(seconds=seconds)


@pytest.fixture
def twilio() -> Iterator[TwilioStub]:
    stub, server = twilio_stub.start()
    yield stub
    server.shutdown()
    server.server_close()


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
def twilio_core(core: Core, twilio: TwilioStub) -> Core:
    """The test core, sending texts through the Twilio stand-in."""
    core.settings = Settings(rate_limits_enabled=False, notify_provider="twilio", twilio_account_sid=twilio.account_sid,
                             twilio_auth_token=twilio.auth_token, twilio_from=SENDER, twilio_base_url=twilio.url,
                             public_base_url="https://tyrehero.example", notify_retry_base_s=5.0,
                             notify_max_attempts=4, notify_lease_s=60.0)
    return core


def provider(core: Core, timeout_s: float = 5.0) -> TwilioProvider:
    s = core.settings
    assert s.twilio_auth_token is not None
    return TwilioProvider(s.twilio_account_sid, s.twilio_auth_token.get_secret_value(), s.twilio_from,
                          base_url=s.twilio_base_url, timeout_s=timeout_s)


def relay(core: Core, clock: Clock, timeout_s: float = 5.0) -> Relay:
    return Relay(core, provider(core, timeout_s), clock=clock, rng=lambda: 1.0)


def submit(core: Core, **over: object) -> tuple[int, str]:
    """A new request; returns its id and the number texts go to (E.164)."""
    body = request_body(**over)
    answer = submit_request(core, RequestCreate.model_validate(body))
    return answer.id, normalise_uk_mobile(body["phone"])


def messages(core: Core, request_id: int) -> list[sa.Row]:
    with core.engine.connect() as c:
        return c.execute(sa.text("SELECT * FROM outbound_message WHERE request_id = :r ORDER BY id"),
                         {"r": request_id}).all()


def drain(r: Relay, rounds: int = 50) -> int:
    """Run the relay until nothing is due; returns how many messages it claimed."""
    total = 0
    for _ in range(rounds):
        n = r.run_once()
        if n == 0:
            return total
        total += n
    raise AssertionError("the relay never ran out of due messages")
