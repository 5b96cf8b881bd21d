"""The request form's errors are sentences for a driver, not the framework's wording."""

from __future__ import annotations

import pytest
from pydantic import ValidationError

from core.requests.messages import driver_errors, first_in_error
from core.schemas import RequestCreate


def _errors(**body: object) -> dict[str, str]:
    full: dict[str, object] = {"customer_name": "Alex", "phone": "07911 123456", "location": {"postcode": "RG1 1AA"},
                               "vehicle": "Ford Focus", "issue": "puncture"}
    full.update(body)
    with pytest.raises(ValidationError) as e:
        RequestCreate.model_validate(full)
    return driver_errors(e.value)


def test_empty_fields_get_sentences_not_framework_wording() -> None:
    errors = _errors(customer_name="", phone="", vehicle="")
    assert set(errors) == {"customer_name", "phone", "vehicle"}, "one message per empty field"
    assert not any("String should" in m for m in errors.values()), "no pydantic wording reaches the driver"
    assert errors["customer_name"].startswith("Tell us your name"), "the name's message says what to do"


def test_our_own_messages_pass_through_capitalised() -> None:
    errors = _errors(phone="12345", vehicle_reg="!!")
    assert errors["phone"] == "Enter a valid UK mobile number, e.g. 07911 123456.", "the phone's own message is kept"
    assert errors["vehicle_reg"].startswith("A UK registration"), "the registration's message is capitalised"


def test_a_missing_location_asks_for_it() -> None:
    errors = _errors(location={})
    assert errors["location"].startswith("Tell us where you are"), "an empty location asks for one"


def test_the_first_field_in_page_order_is_focused() -> None:
    assert first_in_error({"vehicle": "x", "phone": "y", "location": "z"}) == "location", "page order decides"
    assert first_in_error({}) is None, "nothing to focus without errors"
