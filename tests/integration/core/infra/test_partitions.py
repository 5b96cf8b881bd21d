"""location_ping partitioned by month: routing, the maintenance job, and the migration round trip."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime

import pytest
import sqlalchemy as sa
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlmodel import SQLModel

from alembic import command
from core.config import Settings
from core.infra import db
from core.infra.partitions import DEFAULT_PARTITION, ensure_ping_partitions, is_ping_partition, monthly_partitions
from core.models import LocationPing
from tests.conftest import alembic_config

FAKE_NOW = datetime(2031, 3, 10, 12, 0, tzinfo=UTC)


def _partitions(conn: sa.Connection) -> dict[str, str]:
    """Every partition of location_ping with its bound."""
    rows = conn.exec_driver_sql(
        "SELECT c.relname, pg_get_expr(c.relpartbound, c.oid) FROM pg_inherits i JOIN pg_class c ON c.oid = i.inhrelid"
        " WHERE i.inhparent = 'location_ping'::regclass"
    ).all()
    return dict(rows)  # type: ignore[arg-type]


@pytest.fixture
def pings(clean_db: sa.Engine) -> Iterator[sa.Engine]:
    """Empty tables, one technician (id 1); the session database's partitions are put back afterwards."""
    with clean_db.begin() as c:
        c.exec_driver_sql("SET LOCAL TimeZone = 'UTC'")
        before = _partitions(c)
        c.exec_driver_sql(
            "INSERT INTO technician (id, name, van_reg, van_label, capabilities, home_base, status, active, version)"
            " VALUES (1, 'T', 'X', '', '{}', '', 'offline', true, 0)"
        )
    yield clean_db
    with clean_db.begin() as c:
        c.exec_driver_sql("SET LOCAL TimeZone = 'UTC'")
        c.exec_driver_sql("TRUNCATE location_ping")
        after = _partitions(c)
        for name in after.keys() - before.keys():
            c.exec_driver_sql(f"DROP TABLE {name}")
        for name in before.keys() - after.keys():
            c.exec_driver_sql(f"CREATE TABLE {name} PARTITION OF location_ping {before[name]}")


def _insert(engine: sa.Engine, *when: datetime) -> None:
    with engine.begin() as c:  # the way core.technicians.jobs.record_positions inserts
        c.execute(
            sa.insert(LocationPing),
            [{"technician_id": 1, "lat": 52.0, "lng": -1.0, "accuracy_m": None, "recorded_at": t} for t in when],
        )


def _where(engine: sa.Engine) -> dict[datetime, str]:
    with engine.connect() as c:
        rows = c.exec_driver_sql("SELECT recorded_at, tableoid::regclass::text FROM location_ping").all()
    return {r[0]: r[1] for r in rows}


def _exists(engine: sa.Engine, name: str) -> bool:
    with engine.connect() as c:
        return c.exec_driver_sql("SELECT to_regclass(%(n)s)", {"n": name}).scalar() is not None


def test_pings_land_in_their_monthly_partition(pings: sa.Engine) -> None:
    ensure_ping_partitions(pings, months_ahead=2, keep_months=6, now=FAKE_NOW)
    march, april, may = (datetime(2031, m, 15, 8, 30, tzinfo=UTC) for m in (3, 4, 5))
    first_of_april = datetime(2031, 4, 1, 0, 0, tzinfo=UTC)  # bounds: [from, to)
    last_of_march = datetime(2031, 3, 31, 23, 59, 59, 999999, tzinfo=UTC)
    _insert(pings, march, april, may, first_of_april, last_of_march)
    assert _where(pings) == {
        march: "location_ping_y2031m03",
        last_of_march: "location_ping_y2031m03",
        april: "location_ping_y2031m04",
        first_of_april: "location_ping_y2031m04",
        may: "location_ping_y2031m05",
    }
    with pings.connect() as c:  # ids still come from the database, and the parent sees every row
        ids = c.exec_driver_sql("SELECT id FROM location_ping ORDER BY id").scalars().all()
    assert len(set(ids)) == 5, "wanted len(set(ids)) == 5"
    assert all(isinstance(i, int) for i in ids), "wanted all(isinstance(i, int) for i in ids)"


def test_a_month_without_partition_lands_in_the_default_partition(pings: sa.Engine) -> None:
    far = datetime(2040, 7, 1, tzinfo=UTC)
    _insert(pings, far)
    assert _where(pings) == {far: DEFAULT_PARTITION}


def test_ensure_creates_coming_months_and_drops_expired_ones(pings: sa.Engine) -> None:
    old = datetime(2030, 3, 20, tzinfo=UTC)  # 12 months before FAKE_NOW
    with pings.begin() as c:
        c.exec_driver_sql(
            "CREATE TABLE location_ping_y2030m03 PARTITION OF location_ping"
            " FOR VALUES FROM ('2030-03-01 00:00:00+00') TO ('2030-04-01 00:00:00+00')"
        )
    kept = datetime(2030, 9, 5, tzinfo=UTC)  # the oldest month keep_months=6 keeps
    with pings.begin() as c:
        c.exec_driver_sql(
            "CREATE TABLE location_ping_y2030m09 PARTITION OF location_ping"
            " FOR VALUES FROM ('2030-09-01 00:00:00+00') TO ('2030-10-01 00:00:00+00')"
        )
    _insert(pings, old, kept)
    assert _where(pings)[old] == "location_ping_y2030m03"

    result = ensure_ping_partitions(pings, months_ahead=2, keep_months=6, now=FAKE_NOW)

    assert result["created"] == ["location_ping_y2031m03", "location_ping_y2031m04", "location_ping_y2031m05"]
    assert "location_ping_y2030m03" in result["dropped"]
    assert "location_ping_y2030m09" not in result["dropped"]
    assert not _exists(pings, "location_ping_y2030m03")
    assert all(_exists(pings, n) for n in result["created"])
    assert _where(pings) == {kept: "location_ping_y2030m09"}  # the expired row went with its partition
    with pings.connect() as c:
        months = monthly_partitions(c)
    assert min(months) == (2030, 9), "wanted min(months) == (2030, 9)"
    assert max(months) == (2031, 5), "wanted max(months) == (2031, 5)"


def test_ensure_twice_changes_nothing(pings: sa.Engine) -> None:
    ensure_ping_partitions(pings, now=FAKE_NOW)
    with pings.connect() as c:
        before = _partitions(c)
    again = ensure_ping_partitions(pings, now=FAKE_NOW)
    assert again == {"created": [], "dropped": [], "moved_rows": {}, "default_rows_deleted": 0}
    with pings.connect() as c:
        assert _partitions(c) == before


def test_default_rows_move_into_the_new_months_partition(pings: sa.Engine) -> None:
    april = [datetime(2031, 4, d, 10, tzinfo=UTC) for d in (1, 2, 30)]
    elsewhere = datetime(2031, 8, 1, tzinfo=UTC)  # no partition is made for it: stays in the default
    _insert(pings, *april, elsewhere)
    before_ids = _ids(pings)
    assert set(_where(pings).values()) == {DEFAULT_PARTITION}

    result = ensure_ping_partitions(pings, months_ahead=2, keep_months=6, now=FAKE_NOW)

    assert result["moved_rows"] == {"location_ping_y2031m04": 3}
    where = _where(pings)
    assert all(where[t] == "location_ping_y2031m04" for t in april)
    assert where[elsewhere] == DEFAULT_PARTITION
    assert _ids(pings) == before_ids  # moved, not re-numbered
    _insert(pings, datetime(2031, 4, 3, tzinfo=UTC))  # the attached partition takes new rows
    assert _where(pings)[datetime(2031, 4, 3, tzinfo=UTC)] == "location_ping_y2031m04"


def test_expired_rows_in_the_default_partition_are_deleted(pings: sa.Engine) -> None:
    ancient, recent = datetime(2029, 1, 1, tzinfo=UTC), datetime(2031, 1, 15, tzinfo=UTC)
    _insert(pings, ancient, recent)
    result = ensure_ping_partitions(pings, months_ahead=0, keep_months=6, now=FAKE_NOW)
    assert result["default_rows_deleted"] == 1
    assert _where(pings) == {recent: DEFAULT_PARTITION}


def test_concurrent_runs_create_each_partition_once(pings: sa.Engine) -> None:
    from concurrent.futures import ThreadPoolExecutor

    with ThreadPoolExecutor(6) as pool:
        results = list(pool.map(lambda _: ensure_ping_partitions(pings, months_ahead=3, now=FAKE_NOW), range(6)))
    created = [n for r in results for n in r["created"]]
    assert sorted(created) == [f"location_ping_y2031m0{m}" for m in (3, 4, 5, 6)]


def test_model_metadata_matches_the_migrated_schema(engine: sa.Engine) -> None:
    with engine.connect() as c:
        mc = MigrationContext.configure(
            c,
            opts={
                "compare_type": True,
                "include_name": lambda name, type_, _parents: not (type_ == "table" and is_ping_partition(name)),
            },
        )
        assert compare_metadata(mc, SQLModel.metadata) == []


def _ids(engine: sa.Engine) -> list[int]:
    with engine.connect() as c:
        return list(c.exec_driver_sql("SELECT id FROM location_ping ORDER BY id").scalars())


def test_migration_round_trip(scratch_url: str) -> None:
    cfg = alembic_config(scratch_url)
    command.upgrade(cfg, "0003")
    eng = sa.create_engine(scratch_url, poolclass=sa.pool.NullPool)
    old = datetime(2024, 2, 10, tzinfo=UTC)
    rows = [datetime(2024, 2, 10, tzinfo=UTC), datetime(2024, 5, 1, tzinfo=UTC), datetime(2024, 5, 31, tzinfo=UTC)]
    with eng.begin() as c:
        c.exec_driver_sql(
            "INSERT INTO technician (id, name, van_reg, van_label, capabilities, home_base, status, active, version)"
            " VALUES (1, 'T', 'X', '', '{}', '', 'offline', true, 0)"
        )
        for t in rows:
            c.execute(
                sa.text("INSERT INTO location_ping (technician_id, lat, lng, recorded_at) VALUES (1, 52, -1, :t)"),
                {"t": t},
            )

    def relkind() -> str:
        with eng.connect() as c:
            return c.exec_driver_sql("SELECT relkind FROM pg_class WHERE oid = 'location_ping'::regclass").scalar()

    def snapshot() -> list[tuple]:
        with eng.connect() as c:
            return [
                tuple(r)
                for r in c.exec_driver_sql(
                    "SELECT id, technician_id, lat, lng, recorded_at FROM location_ping ORDER BY id"
                )
            ]

    original = snapshot()
    assert relkind() == "r"

    command.upgrade(cfg, "head")  # existing rows: partitions are made for their months
    assert relkind() == "p"
    assert snapshot() == original
    where = _where(eng)
    assert where[old] == "location_ping_y2024m02"
    assert where[rows[1]] == where[rows[2]] == "location_ping_y2024m05"
    with eng.connect() as c:
        parts = set(_partitions(c))
    now = datetime.now(UTC)
    assert {DEFAULT_PARTITION, f"location_ping_y{now.year:04d}m{now.month:02d}"} <= parts
    _insert(eng, datetime(2024, 5, 2, tzinfo=UTC))  # the ids carry on after the old ones
    assert _ids(eng)[-1] == 4

    command.downgrade(cfg, "0003")
    assert relkind() == "r"
    after_down = snapshot()
    assert after_down[:3] == original, "wanted after_down[:3] == original"
    assert len(after_down) == 4, "wanted len(after_down) == 4"
    with eng.begin() as c:
        new_id = c.exec_driver_sql(
            "INSERT INTO location_ping (technician_id, lat, lng, recorded_at) VALUES (1, 52, -1, now()) RETURNING id"
        ).scalar()
        assert new_id == 5
        assert c.exec_driver_sql("SELECT to_regclass('location_ping_default')").scalar() is None

    command.upgrade(cfg, "head")
    assert relkind() == "p", "wanted relkind() == 'p'"
    assert len(snapshot()) == 5, "wanted len(snapshot()) == 5"
    eng.dispose()


def test_read_engine_is_optional_and_read_only(database_url: str) -> None:
    assert db.make_read_engine(None) is None
    assert db.make_read_engine(Settings(database_replica_url="")) is None
    replica = db.make_read_engine(Settings(database_replica_url=database_url))
    assert replica is not None
    try:
        with replica.connect() as c:
            assert c.exec_driver_sql("SELECT count(*) FROM location_ping").scalar() is not None
            with pytest.raises(sa.exc.DBAPIError, match="read-only"):
                c.exec_driver_sql("DELETE FROM location_ping")
    finally:
        replica.dispose()
