"""What makes two submissions "the same request": the idempotency fingerprint's canonical body. No database."""

from __future__ import annotations

import json

from hypothesis import given
from hypothesis import strategies as st

from core.errors import AlreadyOpen, Conflict
from core.schemas import RequestCreate

BODY = {
    "customer_name": "Alex Driver", "phone": "07911 123456", "location": {"lat": 51.45, "lng": -0.97},
    "vehicle": "Ford Focus", "issue": "puncture",
}
# Ways of writing one number that all mean +447911123456.
SAME_NUMBER = ["07911 123456", "07911123456", "+447911123456", "+44 7911 123456", " 07911 123 456 "]
# One change to each field: each is another request.
CHANGES = [
    {"customer_name": "Sam Driver"}, {"phone": "07812 300400"}, {"location": {"lat": 51.46, "lng": -0.97}},
    {"location": {"postcode": "RG1 1AA"}}, {"vehicle": "Ford Fiesta"}, {"issue": "blowout"},
    {"vehicle_type": "van"}, {"vehicle_reg": "AB12 CDE"}, {"tyre_size": "205/55 R16"}, {"run_flat": True},
    {"on_motorway": True}, {"vulnerable": True}, {"notes": "hazard lights on"},
]


def _canon(body: dict) -> str:
    return RequestCreate.model_validate(body).canonical_json()


@given(order=st.permutations(list(BODY)), phone=st.sampled_from(SAME_NUMBER), spell_defaults=st.booleans())
def test_one_request_written_any_way_has_one_canonical_body(order: list[str], phone: str, spell_defaults: bool) -> None:
    body = {k: BODY[k] for k in order} | {"phone": phone}
    if spell_defaults:
        body |= {"vehicle_type": "car", "run_flat": False, "notes": "", "vehicle_reg": None}
    assert _canon(body) == _canon(BODY)


@given(changes=st.lists(st.sampled_from(CHANGES), min_size=1, max_size=4, unique_by=lambda c: next(iter(c))))
def test_any_change_of_any_field_is_another_canonical_body(changes: list[dict]) -> None:
    body = dict(BODY)
    for change in changes:
        body |= change
    assert _canon(body) != _canon(BODY)


def test_the_canonical_body_is_json_of_every_field_with_sorted_keys() -> None:
    text = _canon(BODY)
    assert list(json.loads(text)) == sorted(RequestCreate.model_fields)
    assert " " not in text.replace("Alex Driver", "").replace("Ford Focus", "")


def test_already_open_is_answered_as_a_conflict() -> None:
    assert issubclass(AlreadyOpen, Conflict)
