"""Texting a tracking link again: the dispatcher's action (audited, once a minute) and the answer to a second
submission for a number with a request open (texted to that number only, never shown to the submitter)."""

from __future__ import annotations

import threading
import time
from datetime import timedelta

import pytest
import sqlalchemy as sa

from core.context import Core
from core.dispatch.console import request_detail
from core.dispatch.manual import cancel
from core.errors import AlreadyOpen, Conflict, Forbidden
from core.models import utcnow
from core.principal import Role
from core.privacy.retention import erase_customer
from core.requests.intake import submit_request
from core.requests.resend import resend_tracking_link
from core.schemas import RequestCreate
from tests.factories import add_principal, request_body
from tests.integration.notify.conftest import Clock, drain, messages, relay, submit
from tests.integration.notify.twilio_stub import TwilioStub


def _links(core: Core, request_id: int) -> list[sa.Row]:
    return [m for m in messages(core, request_id) if m.template == "tracking_link"]


def test_a_dispatcher_texts_the_link_again_once_and_it_is_audited(core: Core) -> None:
    rid, _ = submit(core)
    who = add_principal(core, Role.DISPATCHER)
    done = resend_tracking_link(core, who, rid)
    assert done.sent, done
    assert [m.recipient for m in _links(core, rid)] == ["customer"], "one tracking-link text to the driver"
    with core.engine.connect() as c:
        audit = c.execute(sa.text("SELECT actor, actor_role, action, target FROM audit_event"
                                  " WHERE action = 'tracking_link_resent'")).all()
        event = c.execute(sa.text("SELECT actor, actor_role FROM request_event WHERE request_id = :r"
                                  " AND kind = 'link_resent'"), {"r": rid}).all()
    assert [tuple(a) for a in audit] == [(who.name, "dispatcher", "tracking_link_resent", done.reference)], audit
    assert [tuple(e) for e in event] == [(who.name, "dispatcher")], "the timeline names who sent it"


def test_a_second_click_within_the_cooldown_is_refused_and_texts_nobody(core: Core) -> None:
    rid, _ = submit(core)
    who = add_principal(core, Role.DISPATCHER)
    resend_tracking_link(core, who, rid)
    with pytest.raises(Conflict, match="wait a minute"):
        resend_tracking_link(core, who, rid)
    assert len(_links(core, rid)) == 1, "the driver is texted once"


def test_after_the_cooldown_it_can_be_sent_again(core: Core) -> None:
    core.settings = core.settings.model_copy(update={"resend_cooldown_s": 0})
    rid, _ = submit(core)
    who = add_principal(core, Role.ADMIN)
    resend_tracking_link(core, who, rid)
    resend_tracking_link(core, who, rid)
    assert len(_links(core, rid)) == 2


def test_two_dispatchers_clicking_at_once_text_the_driver_once(core: Core) -> None:
    people = [add_principal(core, Role.DISPATCHER) for _ in range(6)]
    for _ in range(3):  # a race can be won by luck: several rounds
        rid, _ = submit(core)
        gate = threading.Barrier(len(people))
        outcomes: list[str] = []

        def click(who: object, rid: int = rid, gate: threading.Barrier = gate, out: list[str] = outcomes) -> None:
            gate.wait()
            try:
                resend_tracking_link(core, who, rid)  # type: ignore[arg-type]
                out.append("sent")
            except Conflict:
                out.append("refused")

        threads = [threading.Thread(target=click, args=(p,)) for p in people]
        for t in threads:
            t.start()
        for t in threads:
            t.join(30)
        assert sorted(outcomes) == ["refused"] * 5 + ["sent"], outcomes
        assert len(_links(core, rid)) == 1


def test_a_click_waiting_for_the_lock_sees_the_text_its_holder_wrote(core: Core) -> None:
    """The cooldown is read after the row lock is granted, so it sees what the lock's holder committed."""
    rid, _ = submit(core)
    who = add_principal(core, Role.DISPATCHER)
    result: list[str] = []

    def click() -> None:
        try:
            resend_tracking_link(core, who, rid)
            result.append("sent")
        except Conflict:
            result.append("refused")

    with core.engine.connect() as holder:
        holder.execute(sa.text("SELECT id FROM service_request WHERE id = :r FOR UPDATE"), {"r": rid})
        waiting = threading.Thread(target=click)
        waiting.start()
        time.sleep(0.5)  # the click's statement is now waiting for the row
        holder.execute(sa.text("INSERT INTO request_event (request_id, at, kind, actor, data)"
                               " VALUES (:r, now(), 'link_resent', 'other', '{}')"), {"r": rid})
        holder.commit()
    waiting.join(30)
    assert result == ["refused"], f"{result}: the waiting click must see the text sent while it waited"
    assert len(_links(core, rid)) == 1


@pytest.mark.parametrize("role", [Role.TECHNICIAN])
def test_a_technician_cannot_text_a_driver(core: Core, role: Role) -> None:
    rid, _ = submit(core)
    with pytest.raises(Forbidden):
        resend_tracking_link(core, add_principal(core, role), rid)
    assert _links(core, rid) == []


def test_no_resend_once_the_number_is_erased_or_the_link_has_expired(core: Core) -> None:
    who = add_principal(core, Role.DISPATCHER)
    erased, number = submit(core)
    cancel(core, who, erased, "driver sorted it")
    erase_customer(core, add_principal(core, Role.ADMIN), number)
    with pytest.raises(Conflict, match="no longer holds"):
        resend_tracking_link(core, who, erased)
    old, _ = submit(core)
    cancel(core, who, old, "driver sorted it")
    with core.engine.begin() as c:
        c.execute(sa.text("UPDATE service_request SET cancelled_at = :t WHERE id = :r"),
                  {"t": utcnow() - timedelta(days=2), "r": old})
    with pytest.raises(Conflict, match="expired"):
        resend_tracking_link(core, who, old)
    assert request_detail(core, who, old).link_works is False, "the drawer offers no resend for a dead link"
    assert _links(core, erased) + _links(core, old) == []


def test_a_duplicate_submission_texts_the_first_requests_link_to_its_number(
    core: Core, twilio: TwilioStub, clock: Clock, twilio_core: Core
) -> None:
    rid, number = submit(twilio_core)
    stranger = request_body(phone=number, customer_name="Someone Else")
    for _ in range(3):  # a burst: the number is texted once per cooldown, however often it is typed
        with pytest.raises(AlreadyOpen) as refused:
            submit_request(twilio_core, RequestCreate.model_validate(stranger))
        assert "texted its tracking link to that number" in refused.value.message
    drain(relay(twilio_core, clock))
    texts = twilio.bodies_to(number)
    links = [t for t in texts if "here is the link" in t]
    assert len(links) == 1, texts
    first_link = next(t for t in texts if "has your request" in t).split("Track it: ")[1]
    assert links[0].endswith(first_link), "the text carries the first request's own tracking link"
    assert all(m.status != "pending" for m in messages(twilio_core, rid)), "every text was sent"


def test_the_drawer_lists_the_texts_with_their_delivery_status(
    core: Core, twilio: TwilioStub, clock: Clock, twilio_core: Core
) -> None:
    rid, _ = submit(twilio_core)
    who = add_principal(twilio_core, Role.DISPATCHER)
    resend_tracking_link(twilio_core, who, rid)
    before = request_detail(twilio_core, who, rid)
    assert [(m.template, m.status) for m in before.messages] == [("tracking_link", "pending"), ("received", "pending")]
    assert before.link_works
    drain(relay(twilio_core, clock))
    after = request_detail(twilio_core, who, rid)
    assert {m.status for m in after.messages} <= {"queued", "sent", "delivered"}, after.messages
    assert all("****" in m.preview for m in after.messages), "the drawer shows texts with the link's token masked"
