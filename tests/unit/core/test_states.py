"""The request and technician state machines, including a hypothesis walk."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from core.errors import IllegalTransition
from core.states import (
    CANCELLABLE,
    REQUEST_TRANSITIONS,
    TECH_TRANSITIONS,
    RequestStatus,
    TechStatus,
    request_transition,
    tech_transition,
)


def test_happy_path() -> None:
    s = RequestStatus.PENDING
    for nxt in (RequestStatus.ASSIGNED, RequestStatus.EN_ROUTE, RequestStatus.ON_SITE, RequestStatus.COMPLETED):
        s = request_transition(s, nxt)
    assert s == RequestStatus.COMPLETED


@pytest.mark.parametrize(("cur", "new"), [("on_site", RequestStatus.CANCELLED), ("completed", RequestStatus.PENDING),
                                          ("pending", RequestStatus.ON_SITE), ("cancelled", RequestStatus.ASSIGNED)])
def test_illegal_request_moves_have_clear_messages(cur: str, new: RequestStatus) -> None:
    with pytest.raises(IllegalTransition, match="cannot become"):
        request_transition(cur, new)


def test_technician_cannot_take_a_break_mid_job() -> None:
    with pytest.raises(IllegalTransition, match="cannot go break"):
        tech_transition("en_route", TechStatus.BREAK)


@given(st.lists(st.sampled_from(list(RequestStatus)), max_size=30))
def test_random_walk_never_leaves_the_graph(steps: list[RequestStatus]) -> None:
    s = RequestStatus.PENDING
    for nxt in steps:
        try:
            s = request_transition(s, nxt)
        except IllegalTransition:
            assert nxt not in REQUEST_TRANSITIONS[s]
        else:
            assert nxt in REQUEST_TRANSITIONS[RequestStatus(s)] or nxt == s
    # terminal states stay terminal
    assert REQUEST_TRANSITIONS[RequestStatus.COMPLETED] == frozenset()
    assert RequestStatus.ON_SITE not in CANCELLABLE


def test_every_technician_state_can_get_back_to_available() -> None:
    for s in TechStatus:
        if s != TechStatus.AVAILABLE:
            assert TechStatus.AVAILABLE in TECH_TRANSITIONS[s]
