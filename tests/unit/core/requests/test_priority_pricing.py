"""Priority and price tables."""

from __future__ import annotations

from datetime import UTC, datetime

from core.requests.pricing import DEFAULT_PRICES, quote_pence
from core.requests.priority import effective_priority, priority
from core.schemas import Issue

WEEKDAY_NOON = datetime(2026, 11, 18, 12, 0, tzinfo=UTC)  # a Wednesday
WEEKDAY_NIGHT = datetime(2026, 11, 18, 23, 30, tzinfo=UTC)
SATURDAY_NOON = datetime(2026, 11, 21, 12, 0, tzinfo=UTC)


def test_motorway_and_vulnerable_come_first() -> None:
    assert priority(Issue.PUNCTURE, False, False) == 3
    assert priority(Issue.PUNCTURE, True, False) == 2
    assert priority(Issue.BLOWOUT, True, True) == 1
    assert priority(Issue.OTHER, False, False) > priority(Issue.BLOWOUT, False, False)


def test_waiting_ages_a_request_up() -> None:
    assert effective_priority(3, 30) < effective_priority(3, 0)
    assert effective_priority(3, 60) < effective_priority(2, 0)


def test_daytime_weekday_car_puncture() -> None:
    assert quote_pence(Issue.PUNCTURE, "car", False, WEEKDAY_NOON) == 13800
    assert quote_pence(Issue.PUNCTURE, "car", False, WEEKDAY_NOON) == round(
        (DEFAULT_PRICES.callout_pence + DEFAULT_PRICES.per_tyre_pence) / 100) * 100


def test_surcharges_stack() -> None:
    base = quote_pence(Issue.PUNCTURE, "car", False, WEEKDAY_NOON)
    assert quote_pence(Issue.PUNCTURE, "car", False, WEEKDAY_NIGHT) > base
    assert quote_pence(Issue.PUNCTURE, "car", False, SATURDAY_NOON) > base
    assert quote_pence(Issue.PUNCTURE, "van", True, SATURDAY_NOON) > quote_pence(
        Issue.PUNCTURE, "car", False, SATURDAY_NOON
    )
    assert all(quote_pence(i, "car", False, WEEKDAY_NOON) % 100 == 0 for i in Issue)


def test_british_summer_time_is_used_for_night() -> None:
    # 19:30 UTC in July is 20:30 in London: night rate.
    july = datetime(2026, 7, 15, 19, 30, tzinfo=UTC)
    assert quote_pence(Issue.FLAT, "car", False, july) > quote_pence(Issue.FLAT, "car", False, WEEKDAY_NOON)
