"""Retention and erasure remove every piece of personal data, the free text of the timeline included,
and keep what the figures need: each entry's kind and time, who handled the job, how fast."""

from __future__ import annotations

import secrets
from datetime import timedelta

import sqlalchemy as sa
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from core.context import Core
from core.dispatch import manual
from core.models import LoginFailure, RequestEvent, utcnow
from core.principal import Role
from core.privacy import retention
from core.requests.intake import submit_request
from core.requests.tracking import cancel_by_token
from core.schemas import RequestCreate
from core.technicians.jobs import job_step
from tests.conftest import alembic_config
from tests.factories import add_principal, add_technicians, as_technician, random_mobile, request_body

SECRET_TEXT = ("Jane Roadside", "07911 123456", "behind the Tesco on Mill Lane")


def _timeline(core: Core, request_id: int) -> list[tuple]:
    with core.engine.connect() as c:
        return [tuple(r) for r in c.execute(sa.text(
            "SELECT kind, at, actor, actor_id, actor_role, data FROM request_event WHERE request_id = :r ORDER BY id"),
            {"r": request_id})]


def _row(core: Core, request_id: int) -> sa.Row:
    with core.engine.connect() as c:
        return c.execute(sa.text("SELECT * FROM service_request WHERE id = :r"), {"r": request_id}).one()


def _age(core: Core, request_id: int, days: int) -> None:
    with core.engine.begin() as c:
        c.execute(sa.text("UPDATE service_request SET completed_at = completed_at - make_interval(days => :d),"
                          " cancelled_at = cancelled_at - make_interval(days => :d) WHERE id = :r"),
                  {"d": days, "r": request_id})


def _everything_said_about(core: Core, phone: str) -> tuple[int, int]:
    """A completed job with a note and a completion note, and a request cancelled by a dispatcher with a reason:
    each piece of free text names the driver."""
    (tid,) = add_technicians(core, 1, seed=51)
    dana = add_principal(core, Role.DISPATCHER, "dana")
    done = submit_request(core, RequestCreate.model_validate(request_body(phone=phone, customer_name="Jane Roadside")))
    manual.add_note(core, dana, done.id, f"{SECRET_TEXT[0]} rang from {SECRET_TEXT[1]}")
    me = as_technician(tid)
    for step in ("accept", "en-route", "arrived"):
        job_step(core, me, done.id, step)
    job_step(core, me, done.id, "complete", {"fitted": f"1 tyre for {SECRET_TEXT[0]}", "note": SECRET_TEXT[2]})
    dropped = submit_request(core, RequestCreate.model_validate(request_body(phone=phone)))
    manual.cancel(core, dana, dropped.id, f"{SECRET_TEXT[0]} says she is {SECRET_TEXT[2]}")
    return done.id, dropped.id


def _assert_no_free_text(core: Core, request_id: int, kept: list[tuple]) -> None:
    after = _timeline(core, request_id)
    assert [e[:5] for e in after] == [e[:5] for e in kept]  # kinds, times and who acted: unchanged
    for entry in after:
        assert set(entry[5]) <= set(retention.KEPT_EVENT_DATA), entry
        for text in SECRET_TEXT:
            assert text not in repr(entry), entry
    row = _row(core, request_id)
    assert row.cancel_reason is None, f"row.cancel_reason is {row.cancel_reason!r}, wanted None"
    assert row.customer_name == retention.ERASED, (
        f"row.customer_name is {row.customer_name!r}, wanted retention.ERASED"
    )
    assert row.notes == "", f"row.notes is {row.notes!r}, wanted ''"
    for text in SECRET_TEXT:
        assert text not in repr(tuple(row)), row


def test_retention_removes_cancel_reasons_notes_and_completion_text_and_keeps_kinds_and_times(core: Core) -> None:
    done, dropped = _everything_said_about(core, random_mobile())
    before = {r: _timeline(core, r) for r in (done, dropped)}
    assert any("Jane Roadside" in repr(e) for e in before[done])  # the note and the completion text
    assert "Jane Roadside" in (_row(core, dropped).cancel_reason or "")
    _age(core, done, 40)
    _age(core, dropped, 40)
    assert retention.apply_retention(core) == 2
    for r in (done, dropped):
        _assert_no_free_text(core, r, before[r])
    completed = next(e for e in _timeline(core, done) if e[0] == "completed")
    assert "technician_id" in completed[5]  # who did the job stays for the figures


def test_retention_leaves_recent_and_open_requests_as_they_are(core: Core) -> None:
    done, dropped = _everything_said_about(core, random_mobile())
    still_open = submit_request(core, RequestCreate.model_validate(request_body()))
    dana = add_principal(core, Role.DISPATCHER, "dee")
    manual.add_note(core, dana, still_open.id, "waiting on the hard shoulder")
    before = {r: (_timeline(core, r), tuple(_row(core, r))) for r in (done, dropped, still_open.id)}
    assert retention.apply_retention(core) == 0
    assert {r: (_timeline(core, r), tuple(_row(core, r))) for r in before} == before


def test_erasure_removes_the_same_free_text_as_retention(core: Core) -> None:
    phone = random_mobile()
    done, dropped = _everything_said_about(core, phone)
    before = {r: _timeline(core, r) for r in (done, dropped)}
    root = add_principal(core, Role.ADMIN, "root")
    exported = retention.export_customer(core, root, phone)
    assert "Jane Roadside" in repr(exported)  # a subject access request shows the notes held about them
    assert retention.erase_customer(core, root, phone) == 2
    for r in (done, dropped):
        _assert_no_free_text(core, r, before[r])


def test_a_customers_own_cancel_reason_is_erased_too(core: Core) -> None:
    phone = random_mobile()
    made = submit_request(core, RequestCreate.model_validate(request_body(phone=phone)))
    cancel_by_token(core, made.tracking_token, reason="Jane Roadside: my brother came")
    assert retention.erase_customer(core, add_principal(core, Role.ADMIN, "root"), phone) == 1
    assert _row(core, made.id).cancel_reason is None
    assert all("Jane" not in repr(e) for e in _timeline(core, made.id))


def test_retention_deletes_login_failures_older_than_the_window_only(core: Core) -> None:
    now = utcnow()
    with core.engine.begin() as c:
        for days, username in ((45, "old-guess"), (31, "old-typo"), (29, "recent"), (0, "just-now")):
            c.execute(
                sa.insert(LoginFailure).values(username=username, ip="203.0.113.9", at=now - timedelta(days=days))
            )
    retention.apply_retention(core, days=30)
    with core.engine.connect() as c:
        left = sorted(c.execute(sa.text("SELECT username FROM login_failure")).scalars())
        audit = c.execute(sa.text("SELECT data FROM audit_event WHERE action = 'anonymised'")).scalar_one()
    assert left == ["just-now", "recent"]
    assert audit["login_failures"] == 2, "wanted audit['login_failures'] == 2"
    assert audit["count"] == 0, "wanted audit['count'] == 0"


_chars = st.characters(blacklist_categories=("Cs",), blacklist_characters="\x00")  # what JSONB can hold
_text = st.text(_chars, min_size=1, max_size=40)
_data = st.dictionaries(
    st.sampled_from([*retention.KEPT_EVENT_DATA, "reason", "text", "note", "fitted", "anything_new"])
    | st.text(_chars, min_size=1, max_size=12),
    st.one_of(_text, st.integers(), st.booleans()),
    max_size=6,
)


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(entries=st.lists(st.tuples(st.sampled_from(["note", "cancelled", "completed", "assigned", "declined"]), _data),
                        min_size=1, max_size=5))
def test_an_anonymised_timeline_keeps_only_the_listed_keys_and_every_kind_and_time(
        core: Core, entries: list[tuple[str, dict]]) -> None:
    made = submit_request(core, RequestCreate.model_validate(request_body()))
    with core.engine.begin() as c:
        c.execute(sa.text("UPDATE service_request SET status = 'cancelled', cancelled_at = now() - interval '90 days'"
                          " WHERE id = :r"), {"r": made.id})
        for kind, data in entries:
            c.execute(sa.insert(RequestEvent).values(request_id=made.id, kind=kind, actor=secrets.token_hex(2),
                                                     data=data))
    before = _timeline(core, made.id)
    assert retention.apply_retention(core) == 1
    after = _timeline(core, made.id)
    assert [e[:5] for e in after] == [e[:5] for e in before]
    for (*_, old), (*_, new) in zip(before, after, strict=True):
        assert new == {k: v for k, v in old.items() if k in retention.KEPT_EVENT_DATA}


def test_retention_is_idempotent(core: Core) -> None:
    done, dropped = _everything_said_about(core, random_mobile())
    _age(core, done, 2)
    _age(core, dropped, 2)
    assert retention.apply_retention(core, days=1) == 2
    snapshot = {r: (_timeline(core, r), tuple(_row(core, r))) for r in (done, dropped)}
    assert retention.apply_retention(core, days=1) == 0
    assert {r: (_timeline(core, r), tuple(_row(core, r))) for r in snapshot} == snapshot


def test_the_migration_removes_free_text_left_on_requests_anonymised_before_it(scratch_url: str) -> None:
    """Requests anonymised under 0005 kept their cancel reason and timeline text: 0006 removes them once,
    and leaves requests that were not anonymised alone."""
    from alembic import command

    cfg = alembic_config(scratch_url)
    command.upgrade(cfg, "0005")
    eng = sa.create_engine(scratch_url, poolclass=sa.pool.NullPool)
    with eng.begin() as c:
        for rid, name in ((1, retention.ERASED), (2, "Jane Roadside")):
            c.execute(
                sa.text(
                    "INSERT INTO service_request (id, public_id, reference, tracking_token_hash, customer_name,"
                    " phone_enc, phone_hash, lat, lng, h3_cell, location_label, location_approximate, vehicle,"
                    " vehicle_type, issue, on_motorway, vulnerable, notes, status, priority, quote_pence, version,"
                    " cancel_reason, cancelled_at)"
                    " VALUES (:id, gen_random_uuid(), :ref, :ref, :name, '', '', 51.45, -0.98, 'x', '', false,"
                    " 'Car', 'car', 'puncture', false, false, '', 'cancelled', 3, 4900, 0, 'Jane Roadside went home',"
                    " now())"
                ),
                {"id": rid, "ref": f"TH-{rid}", "name": name},
            )
            c.execute(sa.text(
                "INSERT INTO request_event (request_id, kind, actor, data) VALUES"
                " (:id, 'note', 'Dana', '{\"text\": \"Jane Roadside rang\"}'),"
                " (:id, 'completed', 'Tech', '{\"technician_id\": 4, \"fitted\": \"1 tyre for Jane\"}'),"
                " (:id, 'cancelled', 'customer', '{\"reason\": \"Jane Roadside went home\"}')"), {"id": rid})
    command.upgrade(cfg, "0006")
    with eng.connect() as c:
        reasons = dict(c.execute(sa.text("SELECT id, cancel_reason FROM service_request")).all())
        data = {(r, k): d for r, k, d in c.execute(sa.text("SELECT request_id, kind, data FROM request_event"))}
        columns = set(c.execute(sa.text("SELECT table_name || '.' || column_name FROM information_schema.columns"
                                        " WHERE column_name IN ('actor_id', 'actor_role')")).scalars())
    eng.dispose()
    assert reasons == {1: None, 2: "Jane Roadside went home"}
    assert data[(1, "note")] == {}, "wanted data[(1, 'note')] == {}"
    assert data[(1, "cancelled")] == {}, "wanted data[(1, 'cancelled')] == {}"
    assert data[(1, "completed")] == {"technician_id": 4}, "wanted data[(1, 'completed')] == {'technician_id': 4}"
    assert data[(2, "note")] == {"text": "Jane Roadside rang"}
    assert columns == {f"{t}.{c}" for t in ("audit_event", "request_event") for c in ("actor_id", "actor_role")}
    command.downgrade(cfg, "0005")
    command.upgrade(cfg, "head")
