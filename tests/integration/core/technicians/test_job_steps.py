"""A job step is one statement: it does exactly what the state machines allow, all or nothing."""

from __future__ import annotations

import itertools
import threading

import pytest
import sqlalchemy as sa

from core.context import Core
from core.errors import IllegalTransition, NotFound
from core.requests.intake import submit_request
from core.schemas import RequestCreate
from core.states import REQUEST_TRANSITIONS, TECH_TRANSITIONS, RequestStatus, TechStatus
from core.technicians.jobs import ACTIVE, job_action, job_step
from tests.factories import add_technicians, as_technician, request_body

_TO = {  # action -> (request's new status, technician's new status or None, timeline kind)
    "accept": (RequestStatus.ASSIGNED, None, "accepted"),
    "en-route": (RequestStatus.EN_ROUTE, TechStatus.EN_ROUTE, "en_route"),
    "arrived": (RequestStatus.ON_SITE, TechStatus.ON_SITE, "on_site"),
    "complete": (RequestStatus.COMPLETED, TechStatus.AVAILABLE, "completed"),
    "decline": (RequestStatus.PENDING, TechStatus.AVAILABLE, "declined"),
}


def _one(core: Core, sql: str, **params: object) -> sa.Row:
    with core.engine.connect() as c:
        return c.execute(sa.text(sql), params).one()


def _set(core: Core, rid: int, tid: int, req_status: str, tech_status: str) -> None:
    with core.engine.begin() as c:
        c.execute(
            sa.text("UPDATE service_request SET status = :s, technician_id = :t, accepted_at = NULL WHERE id = :r"),
            {"s": req_status, "t": tid, "r": rid},
        )
        c.execute(sa.text("UPDATE technician SET status = :s WHERE id = :t"), {"s": tech_status, "t": tid})


def _state(core: Core, rid: int, tid: int) -> tuple:
    return tuple(_one(core, "SELECT r.status, r.version, r.technician_id, t.status, t.version,"
                            " (SELECT count(*) FROM request_event e WHERE e.request_id = r.id)"
                            " FROM service_request r, technician t WHERE r.id = :r AND t.id = :t", r=rid, t=tid))


def test_every_step_from_every_state_does_what_the_state_machines_say(core: Core) -> None:
    (tid,) = add_technicians(core, 1, seed=21)
    rid = submit_request(core, RequestCreate.model_validate(request_body())).id
    cases = list(itertools.product(_TO, list(RequestStatus), list(TechStatus)))
    allowed_seen = refused_seen = already_seen = 0
    for action, req_status, tech_status in cases:
        _set(core, rid, tid, req_status.value, tech_status.value)
        new_req, new_tech, kind = _TO[action]
        allowed = (req_status.value in ACTIVE and (action != "accept" or req_status == RequestStatus.ASSIGNED)
                   and new_req in REQUEST_TRANSITIONS[req_status]
                   and (new_tech is None or new_tech in TECH_TRANSITIONS[tech_status]))
        # A step the job already stands at (a phone's retry after a lost answer) is done, with nothing written.
        already = not allowed and action != "decline" and (
            req_status == new_req or (action == "accept" and req_status.value in ACTIVE))
        before = _state(core, rid, tid)
        if already:
            assert job_action(core, as_technician(tid), rid, action) == req_status.value, (action, req_status)
            assert _state(core, rid, tid) == before, (action, req_status, tech_status)  # nothing written
            already_seen += 1
        elif allowed:
            assert job_action(core, as_technician(tid), rid, action) == new_req.value, (action, req_status, tech_status)
            after = _one(core, "SELECT kind FROM request_event WHERE request_id = :r ORDER BY id DESC LIMIT 1", r=rid)
            assert after[0] == kind
            allowed_seen += 1
        else:
            expected = NotFound if req_status.value not in ACTIVE else IllegalTransition
            with pytest.raises(expected):
                job_action(core, as_technician(tid), rid, action)
            assert _state(core, rid, tid) == before, (action, req_status, tech_status)  # nothing written
            refused_seen += 1
    seen = (allowed_seen, refused_seen, already_seen)
    assert allowed_seen >= 10, f"allowed, refused, already done: {seen}"
    assert refused_seen >= 100, f"allowed, refused, already done: {seen}"
    assert already_seen >= 20, f"allowed, refused, already done: {seen}"


def test_a_replayed_step_counts_as_done_not_as_an_error(core: Core) -> None:
    (tid,) = add_technicians(core, 1, seed=25)
    rid = submit_request(core, RequestCreate.model_validate(request_body())).id
    for step in ("accept", "en-route", "arrived"):
        job_action(core, as_technician(tid), rid, step)
    events = _state(core, rid, tid)[5]
    assert job_action(core, as_technician(tid), rid, "arrived") == "on_site", "arriving twice is arriving"
    again = job_step(core, as_technician(tid), rid, "arrived")
    assert again is not None, "the phone is answered with the job"
    assert again.status == "on_site", "the phone is answered with the job as it stands"
    job_action(core, as_technician(tid), rid, "complete")
    assert job_action(core, as_technician(tid), rid, "complete") == "completed", "completing twice is completing"
    assert _state(core, rid, tid)[5] == events + 1, "a replay writes no timeline entry"


def test_someone_elses_job_is_not_found_and_untouched(core: Core) -> None:
    mine, other = add_technicians(core, 2, seed=22)
    rid = submit_request(core, RequestCreate.model_validate(request_body())).id
    owner = _one(core, "SELECT technician_id FROM service_request WHERE id = :r", r=rid)[0]
    stranger = other if owner == mine else mine
    before = _state(core, rid, owner)
    with pytest.raises(NotFound):
        job_action(core, as_technician(stranger), rid, "accept")
    assert _state(core, rid, owner) == before


def test_the_answer_is_the_job_as_the_step_left_it(core: Core) -> None:
    (tid,) = add_technicians(core, 1, seed=23)
    rid = submit_request(core, RequestCreate.model_validate(request_body())).id
    offered = job_step(core, as_technician(tid), rid, "accept")
    assert offered is not None, "offered is missing"
    assert offered.id == rid, f"offered.id is {offered.id!r}, wanted rid"
    assert offered.status == "assigned", f"offered.status is {offered.status!r}, wanted 'assigned'"
    assert offered.accepted, "wanted offered.accepted"
    assert offered.offer_expires_at is None, f"offered.offer_expires_at is {offered.offer_expires_at!r}, wanted None"
    assert offered.distance_km is not None, "offered.distance_km is missing"
    on_way = job_step(core, as_technician(tid), rid, "en-route")
    assert on_way is not None, "on_way is missing"
    assert on_way.status == "en_route", f"on_way.status is {on_way.status!r}, wanted 'en_route'"
    assert on_way.customer_phone.startswith("+44")
    assert job_step(core, as_technician(tid), rid, "arrived").status == "on_site"  # type: ignore[union-attr]
    assert job_step(core, as_technician(tid), rid, "complete") is None  # nothing else waits for this van
    assert _one(core, "SELECT status FROM technician WHERE id = :t", t=tid)[0] == "available"


def test_two_steps_at_once_on_one_job_exactly_one_wins(core: Core) -> None:
    """'arrived' and 'decline' both start from en route; whichever locks first wins, the other is refused."""
    (tid,) = add_technicians(core, 1, seed=24)
    rid = submit_request(core, RequestCreate.model_validate(request_body())).id
    wins: dict[str, int] = {"arrived": 0, "decline": 0}
    for _ in range(15):
        _set(core, rid, tid, "en_route", "en_route")
        events_before = _state(core, rid, tid)[5]
        barrier = threading.Barrier(2)
        outcome: dict[str, str] = {}

        def go(action: str, barrier: threading.Barrier = barrier, outcome: dict[str, str] = outcome) -> None:
            barrier.wait()
            try:
                job_action(core, as_technician(tid), rid, action)
                outcome[action] = "won"
            except (IllegalTransition, NotFound):
                outcome[action] = "refused"

        threads = [threading.Thread(target=go, args=(a,)) for a in ("arrived", "decline")]
        for t in threads:
            t.start()
        for t in threads:
            t.join(10)
        assert sorted(outcome.values()) == ["refused", "won"], outcome
        winner = next(a for a, o in outcome.items() if o == "won")
        wins[winner] += 1
        status, _v, owner, tech_status, _tv, events = _state(core, rid, tid)
        assert events == events_before + 1  # the winner's entry only
        if winner == "arrived":
            assert status == "on_site", f"status is {status!r}, wanted 'on_site'"
            assert owner == tid, f"owner is {owner!r}, wanted tid"
            assert tech_status == "on_site", f"tech_status is {tech_status!r}, wanted 'on_site'"
        else:
            # the only van declined it, so the sweep does not offer it to them again
            assert status == "pending", f"status is {status!r}, wanted 'pending'"
            assert owner is None, f"owner is {owner!r}, wanted None"
            assert tech_status == "available", f"tech_status is {tech_status!r}, wanted 'available'"
    print(f"wins {wins}")
