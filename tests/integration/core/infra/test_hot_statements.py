"""Hot statements run on psycopg directly: same rows, same errors, same transactions as through SQLAlchemy."""

from __future__ import annotations

from typing import NamedTuple

import pytest
import sqlalchemy as sa
from sqlmodel import col, select

from core.context import Core
from core.infra.db import HotStatement, autocommit, log_slow_queries
from core.models import RequestEvent, ServiceRequest
from core.requests import intake as rq
from core.schemas import RequestCreate
from core.states import OPEN_STATUSES
from tests.factories import request_body


def _request(core: Core, status: str = "pending", phone_hash: str = "h0") -> sa.Row:
    """A stored request (no technicians: it stays pending), then set to the status and phone hash given."""
    rid = rq.submit_request(core, RequestCreate.model_validate(request_body())).id
    with core.engine.begin() as c:
        return c.execute(sa.text("UPDATE service_request SET status = :s, phone_hash = :h WHERE id = :id"
                                 " RETURNING id, reference"), {"s": status, "h": phone_hash, "id": rid}).one()

class _Open(NamedTuple):
    id: int
    status: str
    reference: str


class _Id(NamedTuple):
    id: int


class _Pid(NamedTuple):
    pid: int


class _NoRows(NamedTuple):
    pass


class _Slept(NamedTuple):
    slept: object  # pg_sleep returns void


_OPEN_FOR_PHONE = (
    select(ServiceRequest.id, ServiceRequest.status, ServiceRequest.reference)
    .where(col(ServiceRequest.phone_hash) == sa.bindparam("phone_hash"), col(ServiceRequest.status).in_(OPEN_STATUSES))
    .order_by(col(ServiceRequest.id))
)


def test_rows_are_those_sqlalchemy_returns_with_constants_expanded_once(core: Core) -> None:
    clean_db = core.engine
    ids = {s: _request(core, status=s, phone_hash="h1").id for s in ("pending", "assigned", "completed", "cancelled")}
    _request(core, status="pending", phone_hash="other")
    hot = HotStatement(_OPEN_FOR_PHONE, _Open)
    assert "POSTCOMPILE" not in hot.sql
    with autocommit(clean_db).connect() as c:
        expected = [tuple(r) for r in c.execute(_OPEN_FOR_PHONE, {"phone_hash": "h1"})]
        rows = hot(c, {"phone_hash": "h1"}).fetchall()
    assert [tuple(r) for r in rows] == expected
    assert [r.id for r in rows] == [ids["pending"], ids["assigned"]]  # by name as well as by position
    assert rows[0].status == "pending"


def test_a_missing_parameter_is_named_before_anything_is_sent(clean_db: sa.Engine) -> None:
    with autocommit(clean_db).connect() as c, pytest.raises(KeyError, match="phone_hash"):
        HotStatement(_OPEN_FOR_PHONE, _Open)(c, {})


def test_rows_come_as_the_named_class_and_a_class_that_names_other_columns_is_refused(core: Core) -> None:
    _request(core, phone_hash="h2")

    class Misnamed(NamedTuple):
        id: int
        reference: str
        status: str

    with autocommit(core.engine).connect() as c:
        rows = HotStatement(_OPEN_FOR_PHONE, _Open)(c, {"phone_hash": "h2"}).fetchall()
        assert all(isinstance(r, _Open) for r in rows), "rows are instances of the class given"
        with pytest.raises(TypeError, match="Misnamed"):
            HotStatement(_OPEN_FOR_PHONE, Misnamed)(c, {"phone_hash": "h2"}).fetchall()


def test_json_parameters_are_stored_as_json_and_the_callers_transaction_holds(core: Core) -> None:
    clean_db = core.engine
    rid = _request(core).id
    insert = HotStatement(sa.insert(RequestEvent).values(
        request_id=sa.bindparam("rid"), at=sa.func.now(), kind="note", actor="test",
        data=sa.bindparam("data", type_=RequestEvent.__table__.c.data.type)).returning(RequestEvent.id), _Id)
    count = sa.text("SELECT count(*) FROM request_event WHERE request_id = :r AND data ->> 'said' = 'hello'")
    with pytest.raises(RuntimeError), clean_db.begin() as c:
        insert(c, {"rid": rid, "data": {"said": "hello", "n": 1}})
        assert c.execute(count, {"r": rid}).scalar_one() == 1  # seen inside the transaction
        raise RuntimeError("roll back")
    with clean_db.connect() as c:
        assert c.execute(count, {"r": rid}).scalar_one() == 0  # rolled back with it
    with clean_db.begin() as c:
        insert(c, {"rid": rid, "data": {"said": "hello", "n": 1}})
    with clean_db.connect() as c:
        assert c.execute(sa.text("SELECT data FROM request_event WHERE request_id = :r AND kind = 'note'"),
                         {"r": rid}).scalar_one() == {"said": "hello", "n": 1}


def test_errors_are_sqlalchemys_and_a_killed_connection_is_replaced(core: Core) -> None:
    clean_db = core.engine
    existing = _request(core)
    dup = HotStatement(sa.text("UPDATE service_request SET reference = :ref WHERE id = :id"), _NoRows)
    other = _request(core)
    with pytest.raises(sa.exc.IntegrityError), clean_db.begin() as c:
        dup(c, {"ref": existing.reference, "id": other.id})
    whoami = HotStatement(sa.text("SELECT pg_backend_pid() AS pid"), _Pid)
    with clean_db.connect() as c:
        pid = whoami(c).fetchone().pid
        with clean_db.connect() as killer:
            killer.execute(sa.text("SELECT pg_terminate_backend(:p)"), {"p": pid})
        with pytest.raises(sa.exc.OperationalError) as e:
            whoami(c).fetchone()
        assert e.value.connection_invalidated
    with clean_db.connect() as c:  # the pool hands out a live connection again
        assert whoami(c).fetchone().pid != pid


def test_slow_statements_are_logged_as_the_others_are(clean_db: sa.Engine, capsys: pytest.CaptureFixture[str]) -> None:
    eng = sa.create_engine(clean_db.url)
    try:
        log_slow_queries(eng, 50)
        with eng.connect() as c:
            HotStatement(sa.text("SELECT pg_sleep(0.08) AS slept"), _Slept)(c).fetchone()
            HotStatement(sa.text("SELECT 1 AS id"), _Id)(c).fetchone()
    finally:
        eng.dispose()
    out = capsys.readouterr()
    logged = out.out + out.err
    assert "slow_query" in logged, "'slow_query' missing from logged"
    assert "SELECT" in logged, "'SELECT' missing from logged"
    assert logged.count("slow_query") == 1


def _wal_syncs(c: sa.Connection) -> int:
    c.execute(sa.text("SELECT pg_stat_force_next_flush()"))
    c.execute(sa.text("SELECT 1"))  # the flush happens as this backend's next statement ends
    return int(c.execute(sa.text("SELECT wal_sync FROM pg_stat_wal")).scalar_one())


def test_positions_commit_without_waiting_for_the_wal_flush_and_other_commits_still_wait(
    clean_db: sa.Engine, database_url: str, server_urls: tuple[str, str], key_prefix: str
) -> None:
    """On one server process (the WAL statistics are per process until flushed): a core with a single pooled
    connection records positions without waiting for the flush; an ordinary commit right after on the same
    connection still waits for it."""
    from core.bootstrap import bootstrap
    from core.config import Settings
    from core.geo.geocode import OfflineGeocoder
    from core.models import utcnow
    from core.technicians.jobs import PositionIn, record_positions
    from tests.factories import add_technicians

    core = bootstrap(Settings(rate_limits_enabled=False), database_url=database_url, redis_url=server_urls[1],
                     key_prefix=key_prefix, geocoder=OfflineGeocoder(), pool_size=1)
    try:
        tech = add_technicians(core, 1)[0]
        backend = sa.text("SELECT pg_backend_pid()")
        with autocommit(core.engine).connect() as c:
            pid = c.execute(backend).scalar_one()
            before = _wal_syncs(c)
        for i in range(40):
            got = record_positions(core, tech, [PositionIn(52.0 + i / 1000, -1.5, utcnow(), 5.0)])
            assert got.accepted == 1, f"position {i} was not accepted"
        with autocommit(core.engine).connect() as c:
            assert c.execute(backend).scalar_one() == pid, "the positions were recorded on the one pooled connection"
            lat = c.execute(sa.text("SELECT lat FROM technician WHERE id = :id"), {"id": tech}).scalar_one()
            assert lat == pytest.approx(52.039), "the newest position is the technician's current one"
            after_positions = _wal_syncs(c)
            for i in range(5):
                c.execute(sa.text("UPDATE technician SET van_label = :v WHERE id = :id"), {"v": f"Van {i}", "id": tech})
            after_updates = _wal_syncs(c)
            # The setting was each statement's own transaction's: the session still flushes on commit.
            assert c.execute(sa.text("SHOW synchronous_commit")).scalar_one() == "on", "the session flushes again"
    finally:
        core.close()
    assert after_positions - before < 10, "40 positions each waited for a WAL flush"
    assert after_updates - after_positions >= 5, "an ordinary commit did not wait for its WAL flush"
