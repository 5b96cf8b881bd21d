"""Human labels for every code staff and customers see: request and technician statuses, issues,
capabilities, vehicle types, roles and timeline entries. Pages and views show these, never the raw
codes (`en_route`, `run_flat`); one table, so a word changes in one place."""

from __future__ import annotations

from core.principal import Role
from core.schemas import CAPABILITIES, ISSUE_LABELS, Issue, VehicleType
from core.states import RequestStatus, TechStatus

REQUEST_STATUS_LABELS: dict[str, str] = {
    RequestStatus.PENDING: "Waiting for a van",
    RequestStatus.ASSIGNED: "Offered to technician",
    RequestStatus.EN_ROUTE: "On the way",
    RequestStatus.ON_SITE: "On site",
    RequestStatus.COMPLETED: "Completed",
    RequestStatus.CANCELLED: "Cancelled",
}

TECH_STATUS_LABELS: dict[str, str] = {
    TechStatus.OFFLINE: "Off shift",
    TechStatus.AVAILABLE: "Available",
    TechStatus.ASSIGNED: "Job offered",
    TechStatus.EN_ROUTE: "On the way",
    TechStatus.ON_SITE: "On site",
    TechStatus.BREAK: "On a break",
}

CAPABILITY_LABELS: dict[str, str] = {
    "run_flat": "Run-flat tyres",
    "suv_4x4": "SUVs and 4x4s",
    "van": "Vans",
    "locking_nut": "Locking wheel nuts",
}

VEHICLE_TYPE_LABELS: dict[str, str] = {
    VehicleType.CAR: "Car",
    VehicleType.SUV_4X4: "SUV or 4x4",
    VehicleType.VAN: "Van",
}

ROLE_LABELS: dict[str, str] = {
    Role.ADMIN: "Admin",
    Role.DISPATCHER: "Dispatcher",
    Role.TECHNICIAN: "Technician",
    Role.SYSTEM: "System",
}

EVENT_LABELS: dict[str, str] = {
    "created": "Request received",
    "assigned": "Assigned",
    "accepted": "Accepted",
    "declined": "Declined",
    "unassigned": "Unassigned",
    "en_route": "On the way",
    "on_site": "Arrived",
    "completed": "Completed",
    "cancelled": "Cancelled",
    "note": "Note",
    "arriving": "Arriving",
    "link_resent": "Tracking link texted again",
}

MESSAGE_LABELS: dict[str, str] = {
    "received": "Request received",
    "assigned": "Technician coming",
    "en_route": "On the way",
    "arriving": "Arriving",
    "on_site": "Arrived",
    "completed": "Receipt and rating link",
    "cancelled": "Cancelled",
    "requeued": "Finding another van",
    "tracking_link": "Tracking link",
    "offer": "Job offer",
}

DELIVERY_LABELS: dict[str, str] = {
    "pending": "Waiting to send",
    "sending": "Sending",
    "queued": "Queued at provider",
    "sent": "Sent",
    "delivered": "Delivered",
    "failed": "Not delivered",
    "dead": "Given up",
    "skipped": "Not sent",
}

ALERT_LABELS: dict[str, str] = {
    "backlog": "Backlog",
    "low_availability": "Few vans nearby",
    "sla_risk": "90-minute promise at risk",
    "silent_technician": "No position from a technician",
    "out_of_reach": "No van within reach",
}


def _label(table: dict[str, str], code: str | None) -> str:
    """The label for `code`; an unknown code is still shown as words (underscores as spaces, capitalised)."""
    if not code:
        return ""
    return table.get(code) or code.replace("_", " ").capitalize()


def request_status(code: str | None) -> str:
    return _label(REQUEST_STATUS_LABELS, code)


def tech_status(code: str | None) -> str:
    return _label(TECH_STATUS_LABELS, code)


def issue(code: str | None) -> str:
    return _label({str(k): v for k, v in ISSUE_LABELS.items()}, code)


def capability(code: str | None) -> str:
    return _label(CAPABILITY_LABELS, code)


def capabilities(codes: list[str] | tuple[str, ...]) -> str:
    """Capabilities as one line: "Run-flat tyres, Vans"; "none" for an empty list."""
    return ", ".join(capability(c) for c in codes) or "none"


def vehicle_type(code: str | None) -> str:
    return _label(VEHICLE_TYPE_LABELS, code)


def role(code: str | None) -> str:
    return _label(ROLE_LABELS, code)


def event(code: str | None) -> str:
    return _label(EVENT_LABELS, code)


def message(code: str | None) -> str:
    return _label(MESSAGE_LABELS, code)


def delivery(code: str | None) -> str:
    return _label(DELIVERY_LABELS, code)


# Every code has its label: a new enum member without one fails at import, not on a page.
assert set(CAPABILITY_LABELS) == set(CAPABILITIES), "a capability has no label"
assert {str(s) for s in RequestStatus} == set(REQUEST_STATUS_LABELS), "a request status has no label"
assert {str(s) for s in TechStatus} == set(TECH_STATUS_LABELS), "a technician status has no label"
assert {str(i) for i in Issue} == {str(i) for i in ISSUE_LABELS}, "an issue has no label"
assert {str(v) for v in VehicleType} == set(VEHICLE_TYPE_LABELS), "a vehicle type has no label"
