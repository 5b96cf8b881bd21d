"""The request service keeps each request's tracking link to the client that made it, and lets the link
show the van only while the job runs and live a day past closing (core.requests.intake, issue 18 point 4)."""

from __future__ import annotations

import concurrent.futures as cf
import threading
from datetime import timedelta

import pytest
import sqlalchemy as sa

from core.context import Core
from core.errors import AlreadyOpen, LinkExpired, NotFound, ValidationFailed
from core.requests.duplicates import KEY_REUSED
from core.requests.intake import submit_request
from core.requests.tracking import cancel_by_token, track
from core.schemas import RequestCreate, RequestPublic
from core.technicians.jobs import job_action
from tests.factories import add_technicians, as_technician, random_mobile, request_body


def _submit(core: Core, body: dict, key: str | None = None) -> RequestPublic:
    return submit_request(core, RequestCreate.model_validate(body), key)


def _closed_at(core: Core, request_id: int):  # type: ignore[no-untyped-def]
    with core.engine.connect() as c:
        return c.execute(sa.text("SELECT coalesce(completed_at, cancelled_at) FROM service_request WHERE id = :i"),
                         {"i": request_id}).scalar_one()


def test_a_completed_requests_link_shows_no_van_and_expires_at_exactly_a_day(core: Core) -> None:
    tech = add_technicians(core, 1, seed=11)[0]
    made = _submit(core, request_body())
    live = track(core, made.tracking_token)
    assert live.technician_position is not None, "live.technician_position is missing"
    assert live.eta_minutes is not None, "live.eta_minutes is missing"
    for step in ("en-route", "arrived", "complete"):
        job_action(core, as_technician(tech), made.id, step)
    closed = _closed_at(core, made.id)
    just_before = track(core, made.tracking_token, now=closed + timedelta(hours=24) - timedelta(microseconds=1))
    assert just_before.status == "completed"
    assert just_before.technician is None, f"just_before.technician is {just_before.technician!r}, wanted None"
    assert just_before.technician_position is None, (
        f"just_before.technician_position is {just_before.technician_position!r}, wanted None"
    )
    assert just_before.eta_minutes is None, f"just_before.eta_minutes is {just_before.eta_minutes!r}, wanted None"
    assert [e.kind for e in just_before.timeline][-1] == "completed"  # the driver still sees how it ended
    with pytest.raises(LinkExpired) as e:
        track(core, made.tracking_token, now=closed + timedelta(hours=24))
    assert isinstance(e.value, NotFound), "wanted isinstance(e.value, NotFound)"
    assert core.settings.support_phone in e.value.message, "core.settings.support_phone missing from e.value.message"


def test_a_cancelled_requests_link_expires_for_cancelling_as_well(core: Core) -> None:
    add_technicians(core, 1, seed=12)
    made = _submit(core, request_body())
    view = cancel_by_token(core, made.tracking_token)
    assert view.status == "cancelled", f"view.status is {view.status!r}, wanted 'cancelled'"
    assert view.technician_position is None, f"view.technician_position is {view.technician_position!r}, wanted None"
    assert view.eta_minutes is None, f"view.eta_minutes is {view.eta_minutes!r}, wanted None"
    a_day_on = _closed_at(core, made.id) + timedelta(hours=24)
    with pytest.raises(LinkExpired):
        cancel_by_token(core, made.tracking_token, now=a_day_on)
    with pytest.raises(LinkExpired):
        track(core, made.tracking_token, now=a_day_on)


def test_an_open_requests_link_works_whatever_the_clock_says(core: Core) -> None:
    made = _submit(core, request_body())
    with core.engine.connect() as c:
        created = c.execute(sa.text("SELECT created_at FROM service_request")).scalar_one()
    assert track(core, made.tracking_token, now=created + timedelta(days=30)).status == "pending"


def test_an_unknown_link_is_not_told_apart_by_its_type_from_an_expired_one(core: Core) -> None:
    with pytest.raises(NotFound) as e:
        track(core, "A" * 40)
    assert not isinstance(e.value, LinkExpired)


def _race(core: Core, calls: list[tuple[dict, str | None]]) -> list[RequestPublic | Exception]:
    """Every submission from its own thread, released together; each one's answer or error."""
    gate = threading.Barrier(len(calls))

    def run(call: tuple[dict, str | None]) -> RequestPublic | Exception:
        gate.wait()
        try:
            return _submit(core, *call)
        except (AlreadyOpen, ValidationFailed) as e:
            return e

    with cf.ThreadPoolExecutor(len(calls)) as ex:
        return list(ex.map(run, calls))


def _stored_ids(core: Core, phone_hash: str) -> list[int]:
    with core.engine.connect() as c:
        return (
            c.execute(sa.text("SELECT id FROM service_request WHERE phone_hash = :h"), {"h": phone_hash})
            .scalars()
            .all()
        )


@pytest.mark.parametrize("round_", range(4))
def test_one_phone_from_many_clients_at_once_makes_one_request_and_only_its_client_learns_the_link(
    core: Core, round_: int
) -> None:
    add_technicians(core, 2, seed=round_)
    phone = random_mobile()
    body = request_body(phone=phone)
    # Three taps of one client (one key, one body), three other clients with keys, two without.
    calls = [(body, "tapper")] * 3 + [(request_body(phone=phone), f"other-{i}") for i in range(3)] + \
            [(request_body(phone=phone), None)] * 2
    answers = _race(core, calls)
    made = [a for a in answers if isinstance(a, RequestPublic)]
    assert len({a.id for a in made}) == 1
    assert all(isinstance(a, AlreadyOpen) for a in answers if not isinstance(a, RequestPublic))
    winners = [key for (_, key), a in zip(calls, answers, strict=True) if isinstance(a, RequestPublic)]
    assert winners == ["tapper"] * 3 if "tapper" in winners else len(winners) == 1
    assert _stored_ids(core, core.vault.lookup_hash(RequestCreate.model_validate(body).phone)) == [made[0].id]


def test_taps_of_one_client_at_once_all_get_its_one_request(core: Core) -> None:
    body = request_body()
    answers = _race(core, [(body, "double-tap")] * 5)
    assert all(isinstance(a, RequestPublic) for a in answers), answers
    assert len({a.tracking_token for a in answers}) == 1  # type: ignore[union-attr]
    assert sorted(a.duplicate for a in answers) == [False] + [True] * 4  # type: ignore[union-attr]


def test_a_key_raced_with_two_bodies_for_one_phone_stores_one_and_refuses_the_other(core: Core) -> None:
    phone = random_mobile()
    answers = _race(core, [(request_body(phone=phone), "same-key"), (request_body(phone=phone), "same-key")])
    assert sum(isinstance(a, RequestPublic) for a in answers) == 1
    refused = next(a for a in answers if not isinstance(a, RequestPublic))
    assert isinstance(refused, ValidationFailed), "wanted isinstance(refused, ValidationFailed)"
    assert refused.errors == {"idempotency_key": KEY_REUSED}, (
        f"refused.errors is {refused.errors!r}, wanted {{'idempotency_key': KEY_REUSED}}"
    )
