"""Validation errors in words a driver at the roadside understands, one per field of the request form.

Pydantic's own wording ("String should have at least 1 character") never reaches the driver: a field
left empty or of the wrong shape gets the sentence below; our own validators' messages (a phone number,
a registration, a postcode) are already written for people and pass through, capitalised.
"""

from __future__ import annotations

from pydantic import ValidationError

# The form's fields in page order: the first one in error gets the focus.
FIELD_ORDER = ("location", "customer_name", "phone", "issue", "vehicle", "vehicle_type", "vehicle_reg", "notes")

_WHEN_MISSING = {
    "location": "Tell us where you are: tap “Use my location”, or type your postcode.",
    "customer_name": "Tell us your name, so the technician knows who to ask for.",
    "phone": "Enter your mobile number so the technician can call you.",
    "issue": "Choose what happened to the tyre.",
    "vehicle": "Tell us the make and model, e.g. Ford Focus, so the van brings the right tyre.",
    "vehicle_type": "Choose the type of vehicle: car, SUV / 4x4 or van.",
    "vehicle_reg": "A UK registration is 2 to 8 letters and numbers, e.g. AB12 CDE.",
    "notes": "Please keep the note under 500 characters.",
}
_OURS = "value_error"  # raised by our validators, with a message written for people


def _capitalised(text: str) -> str:
    return text[:1].upper() + text[1:]


def driver_errors(exc: ValidationError) -> dict[str, str]:
    """{form field: message} for a RequestCreate that failed validation; the first error per field."""
    out: dict[str, str] = {}
    for err in exc.errors():
        field = str(err["loc"][0]) if err["loc"] else "location"
        if field not in _WHEN_MISSING:
            field = "location" if field.startswith("location") else field
        if field in out:
            continue
        mine = err["type"] == _OURS and field != "location"
        out[field] = _capitalised(err["msg"].removeprefix("Value error, ")) if mine else _WHEN_MISSING.get(
            field, "Check this field.")
    return out


def first_in_error(errors: dict[str, str]) -> str | None:
    """The form field to focus: the first in page order that has an error."""
    return next((f for f in FIELD_ORDER if f in errors), next(iter(errors), None))
