"""The request service keeps each request's tracking link to the client that made it (core.requests)."""

from __future__ import annotations

import concurrent.futures as cf
import threading

import pytest
import sqlalchemy as sa

from core.bootstrap import Core
from core.errors import AlreadyOpen, ValidationFailed
from core.requests import KEY_REUSED, submit_request
from core.schemas import RequestCreate, RequestPublic
from tests.factories import add_technicians, random_mobile, request_body


def _submit(core: Core, body: dict, key: str | None = None) -> RequestPublic:
    return submit_request(core, RequestCreate.model_validate(body), key)


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
        return c.execute(sa.text("SELECT id FROM service_request WHERE phone_hash = :h"), {"h": phone_hash}).scalars().all()


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
    assert isinstance(refused, ValidationFailed) and refused.errors == {"idempotency_key": KEY_REUSED}
