"""The request and technician state machines."""

from __future__ import annotations

from collections.abc import Iterable
from enum import StrEnum

from core.errors import IllegalTransition


class RequestStatus(StrEnum):
    PENDING = "pending"
    ASSIGNED = "assigned"
    EN_ROUTE = "en_route"
    ON_SITE = "on_site"
    COMPLETED = "completed"
    CANCELLED = "cancelled"


class TechStatus(StrEnum):
    OFFLINE = "offline"
    AVAILABLE = "available"
    ASSIGNED = "assigned"
    EN_ROUTE = "en_route"
    ON_SITE = "on_site"
    BREAK = "break"


R, T = RequestStatus, TechStatus

REQUEST_TRANSITIONS: dict[RequestStatus, frozenset[RequestStatus]] = {
    R.PENDING: frozenset({R.ASSIGNED, R.CANCELLED}),
    # back to pending on decline, timeout or unassign
    R.ASSIGNED: frozenset({R.EN_ROUTE, R.PENDING, R.CANCELLED, R.ASSIGNED}),
    R.EN_ROUTE: frozenset({R.ON_SITE, R.PENDING, R.CANCELLED}),
    R.ON_SITE: frozenset({R.COMPLETED}),
    R.COMPLETED: frozenset(),
    R.CANCELLED: frozenset(),
}

TECH_TRANSITIONS: dict[TechStatus, frozenset[TechStatus]] = {
    T.OFFLINE: frozenset({T.AVAILABLE}),
    T.AVAILABLE: frozenset({T.ASSIGNED, T.BREAK, T.OFFLINE}),
    T.ASSIGNED: frozenset({T.EN_ROUTE, T.AVAILABLE}),
    T.EN_ROUTE: frozenset({T.ON_SITE, T.AVAILABLE}),
    T.ON_SITE: frozenset({T.AVAILABLE}),
    T.BREAK: frozenset({T.AVAILABLE, T.OFFLINE}),
}

# In a fixed order, for SQL text built from them (the same text in every process).
OPEN = (R.PENDING, R.ASSIGNED, R.EN_ROUTE, R.ON_SITE)
ON_A_JOB = (R.ASSIGNED, R.EN_ROUTE, R.ON_SITE)  # a technician holds the request
TECH_ON_A_JOB = (T.ASSIGNED, T.EN_ROUTE, T.ON_SITE)
OPEN_STATUSES = frozenset(OPEN)
CANCELLABLE = frozenset({R.PENDING, R.ASSIGNED, R.EN_ROUTE})


def sql_list(statuses: Iterable[StrEnum]) -> str:
    """Statuses as SQL string literals for an IN list: `'assigned','en_route'`. Constants, never input."""
    return ",".join(f"'{s.value}'" for s in statuses)


_WORDS = {
    R.PENDING: "finding a technician",
    R.ASSIGNED: "technician assigned",
    R.EN_ROUTE: "on the way",
    R.ON_SITE: "technician with you",
    R.COMPLETED: "completed",
    R.CANCELLED: "cancelled",
}


def request_transition(current: str, new: RequestStatus) -> RequestStatus:
    """Return `new` if the request may move there, else raise IllegalTransition."""
    cur = RequestStatus(current)
    if new not in REQUEST_TRANSITIONS[cur]:
        raise IllegalTransition(f"a request that is {_WORDS[cur]} cannot become {_WORDS[new]}")
    return new


def tech_transition(current: str, new: TechStatus) -> TechStatus:
    """Return `new` if the technician may move there, else raise IllegalTransition."""
    cur = TechStatus(current)
    if new not in TECH_TRANSITIONS[cur]:
        raise IllegalTransition(
            f"a technician who is {cur.value.replace('_', ' ')} cannot go {new.value.replace('_', ' ')}")
    return new


def status_words(status: str) -> str:
    """The status in plain words for a customer."""
    return _WORDS[RequestStatus(status)]
