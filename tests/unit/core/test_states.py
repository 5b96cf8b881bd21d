"""The request and technician state machines, checked against the allowed moves written out here.

The tables below are the specification, typed by hand from the product rules (not read from
core/states.py), so a change to the core's table that nobody meant fails here.
"""

from __future__ import annotations

import itertools

import pytest
from hypothesis import given
from hypothesis import strategies as st

from core.errors import IllegalTransition
from core.states import CANCELLABLE, OPEN_STATUSES, RequestStatus, TechStatus, request_transition, tech_transition

# status -> the statuses it may move to
ALLOWED_REQUEST_MOVES: dict[str, set[str]] = {
    "pending": {"assigned", "cancelled"},
    # back to pending on decline, timeout or unassign; assigned -> assigned is a reassignment
    "assigned": {"en_route", "pending", "cancelled", "assigned"},
    "en_route": {"on_site", "pending", "cancelled"},
    "on_site": {"completed"},  # a technician with the customer: no cancelling
    "completed": set(),
    "cancelled": set(),
}

ALLOWED_TECH_MOVES: dict[str, set[str]] = {
    "offline": {"available"},
    "available": {"assigned", "break", "offline"},
    "assigned": {"en_route", "available"},
    "en_route": {"on_site", "available"},
    "on_site": {"available"},
    "break": {"available", "offline"},
}

REQUEST_PAIRS = list(itertools.product(ALLOWED_REQUEST_MOVES, repeat=2))
TECH_PAIRS = list(itertools.product(ALLOWED_TECH_MOVES, repeat=2))


def test_the_tables_here_name_every_status_the_core_has() -> None:
    assert set(ALLOWED_REQUEST_MOVES) == {s.value for s in RequestStatus}, "request statuses"
    assert set(ALLOWED_TECH_MOVES) == {s.value for s in TechStatus}, "technician statuses"


@pytest.mark.parametrize(("cur", "new"), REQUEST_PAIRS)
def test_a_request_moves_exactly_where_the_table_allows(cur: str, new: str) -> None:
    if new in ALLOWED_REQUEST_MOVES[cur]:
        assert request_transition(cur, RequestStatus(new)) == new, f"{cur} -> {new} is allowed"
    else:
        with pytest.raises(IllegalTransition, match="cannot become"):
            request_transition(cur, RequestStatus(new))


@pytest.mark.parametrize(("cur", "new"), TECH_PAIRS)
def test_a_technician_moves_exactly_where_the_table_allows(cur: str, new: str) -> None:
    if new in ALLOWED_TECH_MOVES[cur]:
        assert tech_transition(cur, TechStatus(new)) == new, f"{cur} -> {new} is allowed"
    else:
        with pytest.raises(IllegalTransition, match="cannot go"):
            tech_transition(cur, TechStatus(new))


def test_happy_path() -> None:
    s = RequestStatus.PENDING
    for nxt in (RequestStatus.ASSIGNED, RequestStatus.EN_ROUTE, RequestStatus.ON_SITE, RequestStatus.COMPLETED):
        s = request_transition(s, nxt)
    assert s == RequestStatus.COMPLETED, "the usual path ends completed"


@pytest.mark.parametrize(("cur", "new", "message"), [
    ("on_site", RequestStatus.CANCELLED, "a request that is technician with you cannot become cancelled"),
    ("completed", RequestStatus.PENDING, "a request that is completed cannot become finding a technician"),
    ("pending", RequestStatus.ON_SITE, "a request that is finding a technician cannot become technician with you"),
    ("cancelled", RequestStatus.ASSIGNED, "a request that is cancelled cannot become technician assigned"),
])
def test_illegal_request_moves_have_clear_messages(cur: str, new: RequestStatus, message: str) -> None:
    with pytest.raises(IllegalTransition) as e:
        request_transition(cur, new)
    assert e.value.message == message, "the refusal says it in plain words"


def test_technician_cannot_take_a_break_mid_job() -> None:
    with pytest.raises(IllegalTransition, match="a technician who is en route cannot go break"):
        tech_transition("en_route", TechStatus.BREAK)


@given(st.lists(st.sampled_from(list(RequestStatus)), max_size=30))
def test_random_walk_follows_the_table(steps: list[RequestStatus]) -> None:
    s = "pending"
    for nxt in steps:
        allowed = nxt.value in ALLOWED_REQUEST_MOVES[s]
        try:
            s = request_transition(s, nxt).value
        except IllegalTransition:
            assert not allowed, f"{s} -> {nxt} is allowed but was refused"
        else:
            assert allowed, f"{s} -> {nxt} is not allowed but was accepted"


def test_cancellable_and_open_statuses() -> None:
    assert set(CANCELLABLE) == {"pending", "assigned", "en_route"}, "cancellable until the technician is on site"
    assert set(OPEN_STATUSES) == {"pending", "assigned", "en_route", "on_site"}, "open until completed or cancelled"


@pytest.mark.parametrize("status", [s for s in ALLOWED_TECH_MOVES if s != "available"])
def test_every_technician_state_can_get_back_to_available(status: str) -> None:
    assert tech_transition(status, TechStatus.AVAILABLE) == "available", f"{status} -> available"
