"""The outbox row is written by the database in the transaction of the change: committed together or not at all."""

from __future__ import annotations

import pytest
import sqlalchemy as sa

from core.context import Core
from core.models import RequestEvent
from tests.integration.notify.conftest import messages, submit


def test_a_new_request_commits_with_its_received_text(core: Core) -> None:
    rid, _ = submit(core)
    rows = messages(core, rid)
    assert [(m.recipient, m.template, m.status) for m in rows] == [("customer", "received", "pending")], rows


def test_an_event_rolled_back_leaves_no_message(core: Core) -> None:
    rid, _ = submit(core)
    before = len(messages(core, rid))

    class Abort(Exception):
        pass

    with pytest.raises(Abort), core.engine.begin() as c:
        c.execute(sa.insert(RequestEvent).values(request_id=rid, kind="cancelled", actor="test", data={}))
        inside = c.execute(sa.text("SELECT count(*) FROM outbound_message WHERE request_id = :r"), {"r": rid}).scalar()
        assert inside == before + 1, "the trigger writes the message inside the event's transaction"
        raise Abort
    assert len(messages(core, rid)) == before, "a rolled-back change leaves no message behind"


def test_events_that_reach_nobody_write_no_message(core: Core) -> None:
    rid, _ = submit(core)
    with core.engine.begin() as c:
        for kind in ("note", "accepted"):
            c.execute(sa.insert(RequestEvent).values(request_id=rid, kind=kind, actor="test", data={}))
    assert [m.template for m in messages(core, rid)] == ["received"], "notes and acceptances text nobody"


def test_an_assignment_texts_the_customer_and_offers_the_job_to_the_technician(core: Core) -> None:
    from tests.factories import add_technicians

    add_technicians(core, 1, seed=5)
    rid, _ = submit(core)
    got = [(m.recipient, m.template) for m in messages(core, rid)]
    assert got == [("customer", "received"), ("customer", "assigned"), ("technician", "offer")], got


def test_the_table_holds_no_phone_number_or_tracking_token(core: Core) -> None:
    with core.engine.connect() as c:
        columns = set(c.execute(sa.text(
            "SELECT column_name FROM information_schema.columns WHERE table_name = 'outbound_message'")).scalars())
    assert not {"to", "phone", "phone_enc", "body", "token"} & columns, columns
