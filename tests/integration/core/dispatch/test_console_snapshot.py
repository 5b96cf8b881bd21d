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
