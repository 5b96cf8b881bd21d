"""`console.snapshot`: one call answers what one tick of the console shows, as the separate reads would."""

from __future__ import annotations

import pytest

from core.context import Core
from core.dispatch import console
from core.errors import Forbidden, Unavailable
from core.principal import Principal, Role
from core.requests.intake import submit_request
from core.schemas import RequestCreate
from core.technicians.views import phone_view
from tests.factories import add_principal, add_technicians, as_technician, request_body


@pytest.fixture
def dispatcher(core: Core) -> Principal:
    return add_principal(core, Role.DISPATCHER, "dana")


def test_the_snapshot_answers_what_the_separate_reads_answer(core: Core, dispatcher: Principal) -> None:
    add_technicians(core, 1, seed=5)
    job = submit_request(core, RequestCreate.model_validate(request_body()))
    submit_request(core, RequestCreate.model_validate(request_body()))
    snap = console.snapshot(core, dispatcher, job.id, with_figures=True)
    assert snap.queue == console.queue(core, dispatcher), "the queue"
    assert snap.alerts == console.alerts(core, dispatcher), "the alerts, from the same queue"
    assert snap.detail is not None, "snap.detail is missing"
    assert snap.detail.request == console.request_detail(core, dispatcher, job.id).request, (
        "the detail is the one request_detail gives"
    )
    assert snap.figures is not None, "snap.figures is missing"
    assert snap.figures.pending == console.figures(core, dispatcher).pending, "the figures are the ones figures gives"


def test_figures_and_detail_are_read_only_when_asked(core: Core, dispatcher: Principal) -> None:
    submit_request(core, RequestCreate.model_validate(request_body()))
    snap = console.snapshot(core, dispatcher)
    assert snap.figures is None, f"snap.figures is {snap.figures!r}, wanted None"
    assert snap.detail is None, f"snap.detail is {snap.detail!r}, wanted None"
    assert len(snap.queue) == 1


def test_a_selected_request_that_is_gone_has_no_detail(core: Core, dispatcher: Principal) -> None:
    assert console.snapshot(core, dispatcher, 999_999).detail is None


def test_only_dispatchers_and_admins_read_the_snapshot(core: Core) -> None:
    with pytest.raises(Forbidden):
        console.snapshot(core, as_technician(1))


def test_a_database_outage_comes_out_as_unavailable(down: Core, dispatcher: Principal) -> None:
    with pytest.raises(Unavailable):
        console.snapshot(down, dispatcher, with_figures=True)


def test_the_phone_view_is_the_shift_and_the_job_in_one_read(core: Core) -> None:
    (tid,) = add_technicians(core, 1, seed=6)
    job = submit_request(core, RequestCreate.model_validate(request_body()))
    view = phone_view(core, as_technician(tid))
    assert view.shift.status == "assigned", "the offer puts the technician on it"
    assert view.job is not None, "view.job is missing"
    assert view.job.id == job.id, f"view.job.id is {view.job.id!r}, wanted job.id"


def test_the_phone_view_turns_an_outage_into_unavailable(down: Core) -> None:
    with pytest.raises(Unavailable):
        phone_view(down, as_technician(1))


def test_the_sla_column_projects_waiting_plus_eta_and_is_red_when_the_promise_will_be_missed(
        core: Core, dispatcher: Principal) -> None:
    # The only van is ~170 km away (Reading -> Exeter): its ETA alone is past the 90-minute promise.
    add_technicians(core, 1, around=(50.7184, -3.5339), spread=0.0, seed=6, name="Harj Far")
    far = submit_request(core, RequestCreate.model_validate(request_body()))
    (item,) = console.snapshot(core, dispatcher).queue
    assert item.id == far.id and item.technician == "Harj Far", "the far van was sent"
    assert item.eta_min is not None and item.eta_min > core.settings.sla_minutes, f"the van is far: {item.eta_min}"
    assert item.projected_min == item.waited_min + item.eta_min, "projected = waiting + ETA"
    assert item.will_breach and item.sla_state == "red", "a missed promise is red, however long ago it was asked"
    assert "late" in item.sla_text, f"the column says it will be late: {item.sla_text}"
    alerts = [a for a in console.snapshot(core, dispatcher).alerts if a.kind == "sla_risk"]
    assert [a.request_id for a in alerts] == [far.id], "the alert names the request it is about"


def test_a_near_van_keeps_the_sla_column_green(core: Core, dispatcher: Principal) -> None:
    add_technicians(core, 1, spread=0.0, seed=7)
    submit_request(core, RequestCreate.model_validate(request_body()))
    (item,) = console.snapshot(core, dispatcher).queue
    assert item.eta_min is not None and not item.will_breach and item.sla_state == "ok", item
    assert item.status_label == "Offered to technician" and not item.closed, "the status reads as words"
