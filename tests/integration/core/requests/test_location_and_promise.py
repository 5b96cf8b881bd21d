"""Honest place, price and delay (issue 20): what is stored and shown for a postcode, a pin and a far-off van."""

from __future__ import annotations

from datetime import datetime

import pytest
import sqlalchemy as sa

from core.context import Core
from core.dispatch import console
from core.dispatch.auto import sweep_pending
from core.dispatch.manual import assign
from core.principal import Role
from core.requests.intake import submit_request
from core.requests.promise import promise
from core.requests.tracking import track
from core.schemas import Issue, RequestCreate, VehicleType
from core.technicians.jobs import job_view
from tests.factories import add_principal, add_technicians, as_technician, request_body

READING = (51.4545, -0.9781)
MANCHESTER = (53.4808, -2.2426)  # ~210 km from Reading: beyond the SLA plus the margin
NORTHAMPTON = (52.2405, -0.9027)  # ~88 km from Reading: beyond the 90-minute SLA, within the margin


def _row(core: Core, request_id: int) -> dict:
    with core.engine.connect() as c:
        found = c.execute(sa.text("SELECT * FROM service_request WHERE id = :i"), {"i": request_id})
        return dict(found.mappings().one())


def _submit(core: Core, **over: object):  # type: ignore[no-untyped-def]
    return submit_request(core, RequestCreate.model_validate(request_body(**over)))


def test_a_postcode_resolved_to_its_district_is_stored_approximate_with_the_postcode(core: Core) -> None:
    made = _submit(core, location={"postcode": "sw1a1aa"})
    row = _row(core, made.id)
    assert row["location_approximate"] is True, "an offline district/area fallback must be stored approximate"
    assert row["postcode"] == "SW1A 1AA", "the typed postcode is stored, normalised"
    assert row["location_label"] == "SW1A 1AA area (approximate)", "the label names the postcode, not a village"
    assert made.postcode == "SW1A 1AA", "the submitter's answer carries the postcode"


def test_a_pin_placed_near_a_postcode_is_exact_and_keeps_the_postcode(core: Core) -> None:
    made = _submit(core, location={"lat": 51.5010, "lng": -0.1416, "postcode": "SW1A 1AA"})
    row = _row(core, made.id)
    assert row["location_approximate"] is False, "a pin the driver placed is their exact spot"
    assert (row["lat"], row["lng"]) == (51.5010, -0.1416), "the pin's own point is stored"
    assert row["postcode"] == "SW1A 1AA", "the postcode typed before placing the pin is kept"
    assert row["location_label"] == "Pin near SW1A 1AA", "the label names the postcode"


def test_postcode_and_approximate_reach_tracking_the_technician_and_the_console(core: Core) -> None:
    tech = add_technicians(core, 1, around=(51.50, -0.14), spread=0.01, seed=1)[0]
    made = _submit(core, location={"postcode": "SW1A 1AA"})
    assert made.status == "assigned", "a van 1 km away is sent"
    view = track(core, made.tracking_token)
    assert (view.postcode, view.location_approximate) == ("SW1A 1AA", True), "tracking shows postcode and flag"
    job = job_view(core, as_technician(tech))
    assert job is not None and (job.postcode, job.location_approximate) == ("SW1A 1AA", True), \
        "the technician's job shows postcode and flag"
    detail = console.request_detail(core, add_principal(core, Role.DISPATCHER), made.id)
    assert (detail.request.postcode, detail.request.approximate) == ("SW1A 1AA", True), \
        "the console's drawer shows postcode and flag"


def test_the_promised_quote_is_the_stored_quote(core: Core) -> None:
    at = datetime.now().astimezone()
    shown = promise(core, *READING, Issue.BLOWOUT, VehicleType.VAN, True, at=at)
    made = _submit(core, issue="blowout", vehicle_type="van", on_motorway=True)
    assert made.quote_pence == shown.quote_pence, "the price shown before sending is the price stored"


def test_the_promise_says_when_the_best_van_is_beyond_the_sla(core: Core) -> None:
    add_technicians(core, 1, around=NORTHAMPTON, spread=0.0, seed=2)
    shown = promise(core, *READING, Issue.PUNCTURE, VehicleType.CAR, False)
    assert shown.eta_minutes is not None and shown.eta_minutes > shown.sla_minutes, "the van ~88 km off is late"
    assert shown.within_sla is False, "beyond the SLA is said before sending"
    assert shown.in_reach is True, "within the SLA plus the margin, auto-dispatch would still send it"


def test_no_van_within_reach_waits_with_an_alert_and_an_honest_tracking_page(core: Core) -> None:
    far = add_technicians(core, 1, around=MANCHESTER, spread=0.0, seed=3)[0]
    made = _submit(core, location={"lat": READING[0], "lng": READING[1]})
    assert made.status == "pending", "a van hours away is not sent automatically"
    assert sweep_pending(core) == 0, "nor by the sweep"
    view = track(core, made.tracking_token)
    assert view.no_van_in_reach is True, "the driver is told no van can reach them in time"
    dispatcher = add_principal(core, Role.DISPATCHER)
    kinds = {(a.kind, a.request_id) for a in console.alerts(core, dispatcher)}
    assert ("no_van_in_reach", made.id) in kinds, "the dispatcher gets a 'no van within reach' alert"
    assign(core, dispatcher, made.id, far)
    assert _row(core, made.id)["technician_id"] == far, "a dispatcher can still send that van by hand"


def test_a_van_beyond_the_sla_but_within_reach_is_sent_and_the_lateness_explained(core: Core) -> None:
    add_technicians(core, 1, around=NORTHAMPTON, spread=0.0, seed=4)
    made = _submit(core, location={"lat": READING[0], "lng": READING[1]})
    assert made.status == "assigned", "within the SLA plus the margin the van is sent"
    view = track(core, made.tracking_token)
    assert view.arrive_by is not None, "the arrival is given as a clock time"
    assert view.late_reason is not None and "km away" in view.late_reason, "a late arrival comes with its reason"
    assert view.no_van_in_reach is False, "a van is coming"


@pytest.mark.parametrize("margin,status", [(0, "pending"), (60, "assigned")])
def test_the_margin_is_a_setting(core: Core, margin: int, status: str) -> None:
    core.settings = core.settings.model_copy(update={"auto_dispatch_margin_min": margin})
    add_technicians(core, 1, around=NORTHAMPTON, spread=0.0, seed=5)
    made = _submit(core, location={"lat": READING[0], "lng": READING[1]})
    assert made.status == status, f"with a {margin}-minute margin a ~104-minute van is {status}"


def test_form_look_ups_are_limited_per_connection(core: Core) -> None:
    """The form's events are public: a script sending them in a loop is stopped; other drivers are not."""
    from core.infra.ratelimit import RateLimited
    from core.requests.promise import count_lookup

    core.settings.rate_limit_lookups_per_ip = 3
    core.limiter.enabled = True
    for _ in range(3):
        count_lookup(core, "203.0.113.9")
    with pytest.raises(RateLimited) as stopped:
        count_lookup(core, "203.0.113.9")
    assert "Too many look-ups" in stopped.value.message and core.settings.support_phone in stopped.value.message
    assert stopped.value.retry_after_s > 0
    count_lookup(core, "198.51.100.4")  # another driver looks up as usual
    for i in range(3):
        count_lookup(core, f"2001:db8::{i + 1}")  # one IPv6 /64 is one connection's budget
    with pytest.raises(RateLimited):
        count_lookup(core, "2001:db8::ff")
