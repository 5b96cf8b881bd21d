"""Every code people could see has a human label; an unknown code still reads as words."""

from __future__ import annotations

from core import labels
from core.principal import ROLES
from core.schemas import CAPABILITIES, Issue, VehicleType
from core.states import RequestStatus, TechStatus


def _words(text: str) -> bool:
    return text != "" and "_" not in text and text[0].isupper()


def test_every_request_status_has_a_label_in_words() -> None:
    for s in RequestStatus:
        assert _words(labels.request_status(s)), f"request status {s} reads {labels.request_status(s)!r}"


def test_every_technician_status_has_a_label_in_words() -> None:
    for s in TechStatus:
        assert _words(labels.tech_status(s)), f"technician status {s} reads {labels.tech_status(s)!r}"


def test_every_issue_capability_vehicle_and_role_has_a_label_in_words() -> None:
    for code, label in [*((i.value, labels.issue(i)) for i in Issue),
                        *((c, labels.capability(c)) for c in CAPABILITIES),
                        *((v.value, labels.vehicle_type(v)) for v in VehicleType),
                        *((r.value, labels.role(r)) for r in ROLES)]:
        assert _words(label), f"{code} reads {label!r}"


def test_the_codes_named_in_the_complaint_read_as_words() -> None:
    assert labels.request_status("en_route") == "On the way", "en_route is shown as words"
    assert labels.capability("run_flat") == "Run-flat tyres", "run_flat is shown as words"
    assert labels.capabilities(["run_flat", "van"]) == "Run-flat tyres, Vans", "a list of capabilities is one line"
    assert labels.capabilities([]) == "none", "no capabilities reads 'none'"


def test_an_unknown_code_still_reads_as_words() -> None:
    assert labels.event("offer_expired") == "Offer expired", "an unlisted code is spaced and capitalised"
    assert labels.request_status(None) == "", "no status shows nothing"
