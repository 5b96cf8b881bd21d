"""What makes two submissions "the same request" (the idempotency fingerprint's canonical body), and how
long a tracking link lives after its request closed. Pure functions: no database."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta

import pytest
from hypothesis import given
from hypothesis import strategies as st

from core.errors import AlreadyOpen, Conflict, LinkExpired, NotFound
from core.requests.tracking import CLOSED_STATUSES, TRACKING_LINK_LIFETIME_AFTER_CLOSE, link_expired
from core.schemas import RequestCreate
from core.states import OPEN_STATUSES, RequestStatus

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


T0 = datetime(2026, 12, 7, 22, 30, tzinfo=UTC)


@given(
    status=st.sampled_from(sorted(OPEN_STATUSES)),
    later=st.timedeltas(min_value=timedelta(0), max_value=timedelta(days=400)),
)
def test_an_open_requests_link_never_expires(status: RequestStatus, later: timedelta) -> None:
    assert not link_expired(status, None, T0 + later)
    assert not link_expired(status, T0, T0 + later)


@given(status=st.sampled_from(sorted(CLOSED_STATUSES)),
       since=st.timedeltas(min_value=timedelta(0), max_value=timedelta(days=3)))
def test_a_closed_requests_link_expires_exactly_a_day_after_closing(status: RequestStatus, since: timedelta) -> None:
    assert link_expired(status, T0, T0 + since) == (since >= TRACKING_LINK_LIFETIME_AFTER_CLOSE)


def test_the_lifetime_is_a_day_and_closed_means_completed_or_cancelled() -> None:
    assert timedelta(hours=24) == TRACKING_LINK_LIFETIME_AFTER_CLOSE
    assert set(CLOSED_STATUSES) == {RequestStatus.COMPLETED, RequestStatus.CANCELLED}


@pytest.mark.parametrize("status", sorted(CLOSED_STATUSES))
def test_a_closed_request_without_a_closing_time_counts_as_expired(status: RequestStatus) -> None:
    assert link_expired(status, None, T0)


def test_the_new_errors_are_answered_as_their_parents_are() -> None:
    assert issubclass(AlreadyOpen, Conflict), "wanted issubclass(AlreadyOpen, Conflict)"
    assert issubclass(LinkExpired, NotFound), "wanted issubclass(LinkExpired, NotFound)"
