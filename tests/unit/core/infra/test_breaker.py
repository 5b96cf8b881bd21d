"""A tripped breaker skips its dependency for `retry_s`, then lets a call try again."""

from __future__ import annotations

from core.infra.breaker import Breaker
from tests.support.clock import FakeClock


def test_a_new_breaker_lets_calls_through() -> None:
    assert Breaker(clock=FakeClock()).closed, "nothing failed yet"


def test_a_tripped_breaker_skips_until_its_retry_time_has_passed() -> None:
    clock = FakeClock()
    breaker = Breaker(retry_s=5.0, clock=clock)
    breaker.trip()
    clock.advance(4.9)
    assert not breaker.closed, "still skipping 4.9 s after the failure"
    clock.advance(0.1)
    assert breaker.closed, "tries again once 5 s have passed"


def test_a_new_failure_restarts_the_wait() -> None:
    clock = FakeClock()
    breaker = Breaker(retry_s=5.0, clock=clock)
    breaker.trip()
    clock.advance(5.0)
    breaker.trip()
    clock.advance(4.0)
    assert not breaker.closed, "the second failure counts from its own time"
