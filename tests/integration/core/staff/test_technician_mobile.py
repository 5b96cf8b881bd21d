"""An admin sets, changes and removes a technician's mobile (core.staff.admin): validated like a driver's,
stored encrypted, audited without the number, listed masked; the driver's tracking link dials it only while
the job is live (core.requests.tracking)."""

from __future__ import annotations

import json
import re

import pytest
import sqlalchemy as sa
from pydantic import ValidationError

from core.context import Core
from core.errors import Forbidden
from core.phones import masked, normalise_uk_mobile
from core.principal import Principal, Role
from core.requests.intake import submit_request
from core.requests.tracking import track
from core.schemas import RequestCreate, field_errors
from core.staff import admin
from core.staff.views import admin_overview, technician_for_edit
from core.technicians.jobs import job_action
from tests.factories import add_principal, add_technicians, as_technician, random_mobile, request_body


def _tech(**over: object) -> admin.TechnicianIn:
    return admin.TechnicianIn.model_validate({"name": "Nia Rees", "van_reg": "TH24 ABC", **over})


def _row(core: Core, tid: int) -> dict:
    with core.engine.connect() as c:
        return dict(c.execute(sa.text("SELECT * FROM technician WHERE id = :i"), {"i": tid}).mappings().one())


def _audit_text(core: Core) -> str:
    with core.engine.connect() as c:
        rows = c.execute(sa.text("SELECT action, target, data FROM audit_event ORDER BY id")).all()
    return json.dumps([list(r) for r in rows], default=str)


def _digits(e164: str) -> list[str]:
    """The number as it could be written down: E.164, national, and the subscriber digits alone."""
    national = "0" + e164.removeprefix("+44")
    return [e164, national, national[1:], e164[-6:]]


def _mobile_error(**over: object) -> str:
    with pytest.raises(ValidationError) as e:
        _tech(**over)
    return field_errors(e.value)["phone"]


def test_a_mobile_is_refused_with_a_specific_message_unless_it_is_a_uk_mobile() -> None:
    assert _mobile_error(phone="call me") == "That is not a phone number. Use a UK mobile, e.g. 07911 123456."
    assert _mobile_error(phone="07911 12") == "Enter a valid UK mobile number, e.g. 07911 123456."
    assert _mobile_error(phone="020 7946 0000") == \
        "Enter a UK mobile number (starting 07) so job offers can go by text.", "a landline is named as such"
    assert _mobile_error(phone="0" * 40).startswith("That is too long"), "a long paste is refused before parsing"
    assert _mobile_error(phone=7911123456) == "Input should be a valid string"
    number = random_mobile()
    assert _tech(phone=number).phone == normalise_uk_mobile(number), "stored as E.164"
    assert _tech(phone="  ").phone == "", "blank means no number"


def test_a_new_technicians_mobile_is_stored_encrypted_and_the_audit_never_holds_it(core: Core) -> None:
    root = add_principal(core, Role.ADMIN, "root")
    number = normalise_uk_mobile(random_mobile())

    tid = admin.create_technician(core, root, _tech(phone=number))

    row = _row(core, tid)
    stored = json.dumps(row, default=str)
    for form in _digits(number):
        assert form not in stored, f"the number appears in clear ({form}) in the technician row"
    assert core.vault.decrypt(row["phone_enc"]) == number, "the vault gives the number back"
    audit = _audit_text(core)
    assert '"mobile": "set"' in audit, f"the audit records that a mobile was set: {audit}"
    for form in _digits(number):
        assert form not in audit, f"the audit holds the number ({form})"


def test_an_update_keeps_changes_or_removes_the_mobile_and_audits_each_change_without_it(core: Core) -> None:
    root = add_principal(core, Role.ADMIN, "root")
    first, second = (normalise_uk_mobile(random_mobile()) for _ in range(2))
    tid = admin.create_technician(core, root, _tech(phone=first))

    admin.update_technician(core, root, tid, _tech(name="Nia Rees-Jones"))  # no phone in the body
    assert core.vault.decrypt(_row(core, tid)["phone_enc"]) == first, "leaving the phone out keeps it"

    admin.update_technician(core, root, tid, _tech(phone=second))
    assert core.vault.decrypt(_row(core, tid)["phone_enc"]) == second, "a new number replaces the old"

    admin.update_technician(core, root, tid, _tech(phone=second))  # the same number again: no change to audit

    admin.update_technician(core, root, tid, _tech(phone=""))
    assert _row(core, tid)["phone_enc"] is None, "an empty phone removes the number"

    admin.update_technician(core, root, tid, _tech(phone=first))
    admin.update_technician(core, root, tid, _tech(phone=None))
    assert _row(core, tid)["phone_enc"] is None, "null removes it too"

    with core.engine.connect() as c:
        changes = c.execute(sa.text("SELECT data->>'mobile' FROM audit_event WHERE action = 'technician_updated'"
                                    " ORDER BY id")).scalars().all()
    assert changes == [None, "changed", None, "removed", "set", "removed"], changes
    audit = _audit_text(core)
    for form in _digits(first) + _digits(second):
        assert form not in audit, f"the audit holds a number ({form})"


def test_the_admin_list_and_the_edit_form_show_the_mobile_masked_only(core: Core) -> None:
    root = add_principal(core, Role.ADMIN, "root")
    number = normalise_uk_mobile(random_mobile())
    with_phone = admin.create_technician(core, root, _tech(name="Alys Phone", phone=number))
    admin.create_technician(core, root, _tech(name="Bryn Nophone"))

    view = admin_overview(core, root)

    rows = {t.name: t for t in view.technicians}
    national = "0" + number.removeprefix("+44")
    assert rows["Alys Phone"].mobile == f"{national[:5]} ••• {national[-3:]}", rows["Alys Phone"].mobile
    assert rows["Bryn Nophone"].mobile == "", "no number, nothing shown"
    listed = view.model_dump_json()
    for form in _digits(number):
        assert form not in listed, f"the list carries the whole number ({form})"
    edit = technician_for_edit(core, root, with_phone)
    assert edit.mobile == masked(number) and edit.name == "Alys Phone", edit
    assert number not in edit.model_dump_json(), "the edit form starts from the masked number"


def test_only_an_admin_sets_a_mobile(core: Core) -> None:
    (tid,) = add_technicians(core, 1, seed=41)
    before = _row(core, tid)
    for who in (add_principal(core, Role.DISPATCHER, "dana"), add_principal(core, Role.TECHNICIAN, "tom", tech_id=tid),
                Principal.system("seeding")):
        with pytest.raises(Forbidden):
            admin.update_technician(core, who, tid, _tech(phone=random_mobile()))
        with pytest.raises(Forbidden):
            technician_for_edit(core, who, tid)
    assert _row(core, tid)["phone_enc"] == before["phone_enc"] is None, "nothing was stored"


def test_the_tracking_link_dials_the_technician_only_while_the_job_is_live(core: Core) -> None:
    root = add_principal(core, Role.ADMIN, "root")
    (tid,) = add_technicians(core, 1, seed=42, name="Owain Tread")
    number = normalise_uk_mobile(random_mobile())
    admin.update_technician(core, root, tid, _tech(name="Owain Tread", phone=number))
    made = submit_request(core, RequestCreate.model_validate(request_body()))
    me = as_technician(tid)

    seen = {"assigned": track(core, made.tracking_token).technician_tel}
    for step, status in (("en-route", "en_route"), ("arrived", "on_site")):
        job_action(core, me, made.id, step)
        seen[status] = track(core, made.tracking_token).technician_tel
    assert seen == dict.fromkeys(("assigned", "en_route", "on_site"), "tel:" + number), seen

    job_action(core, me, made.id, "complete")
    closed = track(core, made.tracking_token)
    assert closed.technician_tel is None, "no number once the job is closed"
    assert not re.search(re.escape(number[-6:]), closed.model_dump_json()), "nor anywhere in the closed view"
    assert closed.phone == core.settings.support_phone, "TyreHero's line stays"


def test_without_a_mobile_on_file_the_tracking_link_offers_tyrehero_only(core: Core) -> None:
    add_technicians(core, 1, seed=43)
    made = submit_request(core, RequestCreate.model_validate(request_body()))
    view = track(core, made.tracking_token)
    assert view.status == "assigned" and view.technician is not None, view
    assert view.technician_tel is None, "no number on file: nothing to dial but TyreHero"
    assert view.phone == core.settings.support_phone


def test_a_waiting_request_carries_no_technician_number(core: Core) -> None:
    made = submit_request(core, RequestCreate.model_validate(request_body()))
    assert track(core, made.tracking_token).technician_tel is None


def test_demo_vans_get_drama_numbers_that_reach_nobody(core: Core) -> None:
    from core.demo import seed_if_empty

    assert seed_if_empty(core, size=3, quiet=True)
    with core.engine.connect() as c:
        stored = c.execute(sa.text("SELECT phone_enc FROM technician ORDER BY id")).scalars().all()
    numbers = [core.vault.decrypt(enc) for enc in stored]
    assert numbers == ["+447700900000", "+447700900001", "+447700900002"], numbers
