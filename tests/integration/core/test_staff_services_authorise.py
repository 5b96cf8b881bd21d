"""The core's staff services refuse a principal without the role before they touch anything.

Each service is called by every principal its role does not admit, and by a technician naming
another technician's job; each call must raise Forbidden and leave every table as it was (row by
row). The same call by an admitted principal then does change the database (or, for a read, answer),
so the snapshot would have seen a change had the guard let one through.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import pytest
import sqlalchemy as sa

from core.context import Core
from core.dispatch import console, manual
from core.errors import Forbidden, NotFound, ValidationFailed
from core.principal import Principal, Role
from core.privacy import retention
from core.requests.intake import submit_request
from core.requests.tracking import cancel_by_token
from core.schemas import RequestCreate
from core.staff import admin, price_preview
from core.staff import views as staff_views
from core.states import TechStatus
from core.technicians import jobs as tech
from core.technicians import views as tech_views
from tests.conftest import TABLES
from tests.factories import add_principal, add_technicians, random_mobile, request_body


@dataclass(frozen=True)
class World:
    admin: Principal
    dispatcher: Principal
    owner: Principal  # the technician holding `job`
    idle: Principal  # a technician on shift with nothing to do
    system: Principal
    job: int  # assigned to `owner`
    waiting: int  # pending, nobody free when it came
    closed_phone: str  # the phone of a cancelled request
    closed_token: str

    @property
    def staff(self) -> list[Principal]:
        return [self.admin, self.dispatcher, self.owner, self.idle, self.system]


def _world(core: Core) -> World:
    (owner_tid,) = add_technicians(core, 1, seed=31, name="Owner Tech")
    job = submit_request(core, RequestCreate.model_validate(request_body(customer_name="Jane Roadside")))
    assert job.status == "assigned"
    waiting = submit_request(core, RequestCreate.model_validate(request_body()))
    phone = random_mobile()
    closed = submit_request(core, RequestCreate.model_validate(request_body(phone=phone)))
    assert waiting.status == closed.status == "pending"
    cancel_by_token(core, closed.tracking_token)
    (idle_tid,) = add_technicians(core, 1, seed=32, name="Idle Tech")  # after the requests: nothing offered to it
    return World(
        admin=add_principal(core, Role.ADMIN, "root"),
        dispatcher=add_principal(core, Role.DISPATCHER, "dana"),
        owner=add_principal(core, Role.TECHNICIAN, "owner", tech_id=owner_tid),
        idle=add_principal(core, Role.TECHNICIAN, "idle", tech_id=idle_tid),
        system=Principal.system("test"),
        job=job.id, waiting=waiting.id, closed_phone=phone, closed_token=closed.tracking_token,
    )


def _snapshot(core: Core) -> dict[str, list[tuple]]:
    """Every row of every table, in primary-key order."""
    with core.engine.connect() as c:
        return {t: [tuple(r) for r in c.execute(sa.text(f"SELECT * FROM {t} ORDER BY 1, 2"))] for t in TABLES}


Call = Callable[[Core, World, Principal], Any]


@dataclass(frozen=True)
class Case:
    name: str
    call: Call
    admits: tuple[Role, ...]  # roles it serves (a technician: only for their own technician, below)
    writes: bool = True
    subject: str | None = None  # technician services: "owner" or "idle", whose technician the call acts for

    def __str__(self) -> str:
        return self.name


def _for(w: World, subject: str) -> int:
    tid = getattr(w, subject).technician_id
    assert tid is not None
    return tid


def _tech_in() -> admin.TechnicianIn:
    return admin.TechnicianIn(name="New Tech", van_reg="NT12 ABC")


ADMIN, ADMIN_OR_SYSTEM = (Role.ADMIN,), (Role.ADMIN, Role.SYSTEM)
DISPATCH = (Role.DISPATCHER, Role.ADMIN)
TECH = (Role.TECHNICIAN, Role.SYSTEM)
CASES = [
    Case("admin.create_technician", lambda c, w, who: admin.create_technician(c, who, _tech_in()), ADMIN_OR_SYSTEM),
    Case(
        "admin.update_technician", lambda c, w, who: admin.update_technician(c, who, _for(w, "idle"), _tech_in()), ADMIN
    ),
    Case(
        "admin.set_technician_active",
        lambda c, w, who: admin.set_technician_active(c, who, _for(w, "idle"), False),
        ADMIN,
    ),
    Case(
        "admin.create_staff",
        lambda c, w, who: admin.create_staff(
            c,
            who,
            admin.StaffIn(username="mallory", display_name="Mallory", role="admin", password="a long enough password"),
        ),
        ADMIN_OR_SYSTEM,
    ),
    Case(
        "admin.reset_password",
        lambda c, w, who: admin.reset_password(c, who, w.dispatcher.user_id, "another long password"),  # type: ignore[arg-type]
        ADMIN,
    ),
    Case(
        "admin.set_staff_active",
        lambda c, w, who: admin.set_staff_active(c, who, w.dispatcher.user_id, False),  # type: ignore[arg-type]
        ADMIN,
    ),
    Case("admin.list_staff", lambda c, w, who: admin.list_staff(c, who), ADMIN, writes=False),
    Case("admin.list_technicians", lambda c, w, who: admin.list_technicians(c, who), ADMIN, writes=False),
    Case("staff_views.admin_overview", lambda c, w, who: staff_views.admin_overview(c, who), ADMIN, writes=False),
    Case("staff_views.technician_for_edit",
         lambda c, w, who: staff_views.technician_for_edit(c, who, _for(w, "idle")), ADMIN, writes=False),
    Case("price_preview.preview_prices",
         lambda c, w, who: price_preview.preview_prices(c, who, {"callout_pence": 1}), ADMIN, writes=False),
    Case("admin.save_prices", lambda c, w, who: admin.save_prices(c, who, {"callout_pence": 1}), ADMIN),
    Case("manual.assign", lambda c, w, who: manual.assign(c, who, w.waiting, _for(w, "idle")), DISPATCH),
    Case(
        "manual.reassign", lambda c, w, who: manual.assign(c, who, w.job, _for(w, "idle"), _for(w, "owner")), DISPATCH
    ),
    Case("manual.unassign", lambda c, w, who: manual.unassign(c, who, w.job), DISPATCH),
    Case("manual.cancel", lambda c, w, who: manual.cancel(c, who, w.waiting, "duplicate"), DISPATCH),
    Case("manual.add_note", lambda c, w, who: manual.add_note(c, who, w.job, "called the driver"), DISPATCH),
    Case("console.queue", lambda c, w, who: console.queue(c, who), DISPATCH, writes=False),
    Case("console.alerts", lambda c, w, who: console.alerts(c, who), DISPATCH, writes=False),
    Case("console.figures", lambda c, w, who: console.figures(c, who), DISPATCH, writes=False),
    Case("console.fleet", lambda c, w, who: console.fleet(c, who), DISPATCH, writes=False),
    Case("console.request_detail", lambda c, w, who: console.request_detail(c, who, w.job), DISPATCH, writes=False),
    Case(
        "console.snapshot", lambda c, w, who: console.snapshot(c, who, w.job, with_figures=True), DISPATCH, writes=False
    ),
    Case("retention.export_customer", lambda c, w, who: retention.export_customer(c, who, w.closed_phone), ADMIN),
    Case("retention.erase_customer", lambda c, w, who: retention.erase_customer(c, who, w.closed_phone), ADMIN),
    *(
        Case(
            f"technicians.job_action {step}",
            lambda c, w, who, step=step: tech.job_action(c, who, w.job, step, tech_id=_for(w, "owner")),
            TECH,
            subject="owner",
        )
        for step in ("accept", "decline", "en-route")
    ),
    Case(
        "technicians.job_step",
        lambda c, w, who: tech.job_step(c, who, w.job, "en-route", tech_id=_for(w, "owner")),
        TECH,
        subject="owner",
    ),
    Case(
        "technicians.job_view",
        lambda c, w, who: tech.job_view(c, who, tech_id=_for(w, "owner")),
        TECH,
        writes=False,
        subject="owner",
    ),
    # Always the caller's own technician: refused to every other role (the owner is the first it admits).
    Case("technicians.phone_view", lambda c, w, who: tech_views.phone_view(c, who), (Role.TECHNICIAN,), writes=False),
    Case(
        "technicians.set_shift_status",
        lambda c, w, who: tech.set_shift_status(c, who, TechStatus.BREAK, tech_id=_for(w, "idle")),
        TECH,
        subject="idle",
    ),
]


def _refused(case: Case, w: World) -> list[Principal]:
    """Everyone the service must refuse: other roles, and the technician who is not its subject."""
    if case.subject is None:
        return [p for p in w.staff if p.role not in case.admits]
    mine = getattr(w, case.subject)
    return [p for p in w.staff if p.role not in case.admits or (p.role == Role.TECHNICIAN and p != mine)]


@pytest.mark.parametrize("case", CASES, ids=str)
def test_a_staff_service_refuses_every_principal_without_the_role_and_changes_nothing(core: Core, case: Case) -> None:
    w = _world(core)
    refused = _refused(case, w)
    assert refused, "every service refuses someone"
    before = _snapshot(core)
    for who in refused:
        with pytest.raises(Forbidden):
            case.call(core, w, who)
        assert _snapshot(core) == before, f"{case} changed the database for {who.role} {who.username}"
    # The same call by a principal it admits works, and a write shows in the snapshot.
    admitted = getattr(w, case.subject) if case.subject else next(p for p in w.staff if p.role in case.admits)
    answer = case.call(core, w, admitted)
    if case.writes:
        assert _snapshot(core) != before, f"{case} by {admitted.role} changed nothing: the test proves nothing"
    else:
        assert answer is not None, "answer is missing"
        assert _snapshot(core) == before, "wanted _snapshot(core) == before"
    print(f"{case}: refused {len(refused)} principals ({', '.join(p.username for p in refused)})")


def test_the_guard_comes_before_any_validation_or_lookup(core: Core) -> None:
    """A refused principal learns nothing: not whether the input was valid, nor whether the target exists."""
    w = _world(core)
    before = _snapshot(core)
    attempts: list[Callable[[], Any]] = [
        lambda: admin.save_prices(core, w.dispatcher, {"no_such_price": -1}),
        lambda: admin.reset_password(core, w.dispatcher, 999_999, "short"),
        lambda: manual.cancel(core, w.owner, 999_999, ""),
        lambda: manual.add_note(core, w.system, 999_999, ""),
        lambda: console.request_detail(core, w.owner, 999_999),
        lambda: retention.erase_customer(core, w.dispatcher, "not a phone"),
        lambda: tech.job_action(core, w.dispatcher, 999_999, "no-such-step"),
    ]
    for attempt in attempts:
        with pytest.raises(Forbidden):
            attempt()
    assert _snapshot(core) == before
    # Admitted, the same calls are refused for their input instead.
    with pytest.raises(ValidationFailed):
        admin.save_prices(core, w.admin, {"no_such_price": -1})
    with pytest.raises(NotFound):
        console.request_detail(core, w.dispatcher, 999_999)


def test_a_technician_on_another_technicians_job_finds_nothing_and_changes_nothing(core: Core) -> None:
    """Without naming a technician the step acts for the caller's own: another's job is not theirs (404,
    which does not say whose it is); naming the other technician is Forbidden."""
    w = _world(core)
    before = _snapshot(core)
    for step in ("accept", "decline", "en-route", "arrived", "complete"):
        with pytest.raises(NotFound):
            tech.job_action(core, w.idle, w.job, step)
        with pytest.raises(Forbidden):
            tech.job_step(core, w.idle, w.job, step, tech_id=w.owner.technician_id)
    assert tech.job_view(core, w.idle) is None
    with pytest.raises(Forbidden):
        tech.job_view(core, w.idle, tech_id=w.owner.technician_id)
    with pytest.raises(Forbidden):
        tech.set_shift_status(core, w.idle, TechStatus.OFFLINE, tech_id=w.owner.technician_id)
    assert _snapshot(core) == before


def test_the_system_must_name_the_technician_it_acts_for(core: Core) -> None:
    w = _world(core)
    before = _snapshot(core)
    with pytest.raises(Forbidden):
        tech.job_action(core, w.system, w.job, "accept")
    with pytest.raises(Forbidden):
        tech.set_shift_status(core, w.system, TechStatus.BREAK)
    assert _snapshot(core) == before
