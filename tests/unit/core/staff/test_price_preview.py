"""Prices are typed in pounds, percent and hours; bad input is named per field."""

from __future__ import annotations

import pytest

from core.errors import ValidationFailed
from core.staff.price_preview import parse_price_form, shown, typed


def test_pounds_become_pence_and_percent_and_hours_stay_whole() -> None:
    values = parse_price_form({"callout_pence": "55.50", "night_pct": "30", "night_start_hour": "21",
                               "motorway_pence": "£25", "weekend_pct": ""})
    assert values["callout_pence"] == 5550, "£55.50 is stored as 5550 pence"
    assert values["motorway_pence"] == 2500, "a pound sign is accepted"
    assert values["night_pct"] == 30, "a percentage is stored as typed"
    assert values["night_start_hour"] == 21, "an hour is stored as typed"
    assert "weekend_pct" not in values, "a blank field is left as it is"


def test_each_bad_field_gets_its_own_message() -> None:
    with pytest.raises(ValidationFailed) as e:
        parse_price_form({"callout_pence": "49.999", "night_pct": "ten", "night_end_hour": "25", "bogus": "1"})
    errors = e.value.errors
    assert "pounds" in errors["callout_pence"], "a third decimal of a pound is refused in words"
    assert "percentage" in errors["night_pct"], "a non-number percentage is refused in words"
    assert "0 to 23" in errors["night_end_hour"], "an hour past 23 is refused"
    assert "bogus" in errors, "an unknown field is named"


def test_stored_values_are_shown_as_people_read_them() -> None:
    assert shown("callout_pence", 4900) == "£49.00", "pence are shown in pounds"
    assert shown("night_pct", 25) == "25%", "percent has its sign"
    assert shown("night_start_hour", 7) == "07:00", "an hour is a clock time"
    assert typed("callout_pence", 4900) == "49.00", "the form shows pounds"
