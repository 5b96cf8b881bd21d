"""The audit trail and each request's timeline say who acted by account id and role, not only by name."""

from __future__ import annotations

import sqlalchemy as sa

from core.context import Core
from core.dispatch import manual
from core.principal import Principal, Role
from core.privacy import retention
from core.requests.intake import submit_request
from core.requests.tracking import cancel_by_token
from core.schemas import RequestCreate
from core.staff import admin
from core.technicians.jobs import expire_unanswered_offers, job_action
from tests.factories import add_principal, add_technicians, request_body


def _audit(core: Core) -> list[tuple]:
    with core.engine.connect() as c:
        return [
            tuple(r)
            for r in c.execute(sa.text("SELECT action, actor, actor_id, actor_role FROM audit_event ORDER BY id"))
        ]


def _timeline(core: Core, request_id: int) -> list[tuple]:
    with core.engine.connect() as c:
        return [tuple(r) for r in c.execute(sa.text(
            "SELECT kind, actor, actor_id, actor_role FROM request_event WHERE request_id = :r ORDER BY id"),
            {"r": request_id})]


def test_audit_rows_carry_the_acting_accounts_id_and_role(core: Core) -> None:
    root = add_principal(core, Role.ADMIN, "root")
    uid = admin.create_staff(core, root, admin.StaffIn(username="dana", display_name="Dana", role="dispatcher",
                                                        password="a long enough password"))
    admin.set_staff_active(core, root, uid, False)
    admin.create_staff(core, Principal.system("demo seeding"), admin.StaffIn(
        username="tess", display_name="Tess", role="technician", password="a long enough password"))
    assert _audit(core) == [
        ("account_created", "Root", root.user_id, "admin"),
        ("account_active", "Root", root.user_id, "admin"),
        ("account_created", "demo seeding", None, "system"),
    ]


def test_every_timeline_entry_says_who_acted_and_in_which_role(core: Core) -> None:
    core.settings.offer_timeout_s = 0
    first, second = add_technicians(core, 2, seed=41)
    dana = add_principal(core, Role.DISPATCHER, "dana")
    owner_of = {first: add_principal(core, Role.TECHNICIAN, "first", tech_id=first),
                second: add_principal(core, Role.TECHNICIAN, "second", tech_id=second)}
    made = submit_request(core, RequestCreate.model_validate(request_body()))
    with core.engine.connect() as c:
        offered_to = c.execute(
            sa.text("SELECT technician_id FROM service_request WHERE id = :r"), {"r": made.id}
        ).scalar_one()
    assert expire_unanswered_offers(core) == 1  # declined for the van, offered to the other one
    with core.engine.connect() as c:
        now_with = c.execute(
            sa.text("SELECT technician_id FROM service_request WHERE id = :r"), {"r": made.id}
        ).scalar_one()
    tech = owner_of[now_with]
    job_action(core, tech, made.id, "accept")
    manual.add_note(core, dana, made.id, "driver called back")
    manual.unassign(core, dana, made.id)
    manual.assign(core, dana, made.id, now_with)
    cancel_by_token(core, made.tracking_token)
    assert _timeline(core, made.id) == [
        ("created", "customer", None, "customer"),
        ("assigned", "auto-dispatch", None, "system"),
        ("declined", "no answer in time", None, "system"),
        ("assigned", "auto-dispatch", None, "system"),
        ("accepted", tech.name, tech.user_id, "technician"),
        ("note", "Dana", dana.user_id, "dispatcher"),
        ("unassigned", "Dana", dana.user_id, "dispatcher"),
        ("assigned", "Dana", dana.user_id, "dispatcher"),
        ("cancelled", "customer", None, "customer"),
    ]
    assert offered_to != now_with


def test_a_dispatchers_reassignment_and_cancellation_name_the_dispatcher(core: Core) -> None:
    first, second = add_technicians(core, 2, seed=42)
    boss = add_principal(core, Role.ADMIN, "boss")
    made = submit_request(core, RequestCreate.model_validate(request_body()))
    with core.engine.connect() as c:
        holder = c.execute(
            sa.text("SELECT technician_id FROM service_request WHERE id = :r"), {"r": made.id}
        ).scalar_one()
    other = second if holder == first else first
    manual.assign(core, boss, made.id, other, from_technician_id=holder)
    manual.cancel(core, boss, made.id, "driver found a garage")
    assert _timeline(core, made.id)[-3:] == [
        ("unassigned", "Boss", boss.user_id, "admin"),
        ("assigned", "Boss", boss.user_id, "admin"),
        ("cancelled", "Boss", boss.user_id, "admin"),
    ]
    retention.apply_retention(core, days=0)  # closed a moment ago: past a zero-day window
    assert _audit(core)[-1] == ("anonymised", "retention", None, "system")
