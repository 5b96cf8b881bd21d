"""Monthly partitions of location_ping: create the coming months, drop the expired ones.

Migration 0004 made `location_ping` a table partitioned by range on `recorded_at`, one
partition per calendar month in UTC named `location_ping_yYYYYmMM`, plus the DEFAULT partition
`location_ping_default` that catches any row no monthly partition takes (so an insert never
fails). `ensure_ping_partitions` is the periodic job that keeps this going. Safe to run from
any number of processes at once: every step takes the same transaction-level advisory lock
and looks again at what exists before it acts, so a second runner finds nothing to do.

A new partition is created standalone, filled with the rows the DEFAULT partition holds for
its month (PostgreSQL refuses a partition whose rows the default already holds), then
ATTACHed, all in one transaction. ATTACH needs only a SHARE UPDATE EXCLUSIVE lock on the
parent, so inserts carry on meanwhile; a CHECK constraint equal to the bound spares the
validation scan. Dropping an expired partition needs an ACCESS EXCLUSIVE lock on the parent:
`lock_timeout` bounds the wait, so a long reader makes the job fail and retry later instead
of queueing every insert behind it.
"""

from __future__ import annotations

import re
from datetime import UTC, datetime
from typing import Any

import sqlalchemy as sa

PARENT = "location_ping"
DEFAULT_PARTITION = "location_ping_default"
ADVISORY_LOCK_KEY = 725002  # alembic/env.py uses 725001
COLUMNS = "id, technician_id, lat, lng, accuracy_m, recorded_at, received_at"
_NAME = re.compile(r"^location_ping_y(\d{4})m(\d{2})$")

Month = tuple[int, int]


def add_months(month: Month, n: int) -> Month:
    k = month[0] * 12 + (month[1] - 1) + n
    return k // 12, k % 12 + 1


def partition_name(month: Month) -> str:
    return f"{PARENT}_y{month[0]:04d}m{month[1]:02d}"


def month_bounds(month: Month) -> tuple[str, str]:
    """The [from, to) bound of a month as timestamptz literals in UTC."""
    nxt = add_months(month, 1)
    return f"{month[0]:04d}-{month[1]:02d}-01 00:00:00+00", f"{nxt[0]:04d}-{nxt[1]:02d}-01 00:00:00+00"


def _begin(conn: sa.Connection, lock_timeout_ms: int) -> None:
    """Settings and the advisory lock of one maintenance transaction (already begun)."""
    conn.exec_driver_sql("SET LOCAL TimeZone = 'UTC'")
    conn.exec_driver_sql(f"SET LOCAL lock_timeout = {int(lock_timeout_ms)}")
    conn.exec_driver_sql(f"SELECT pg_advisory_xact_lock({ADVISORY_LOCK_KEY})")


def _is_partitioned(conn: sa.Connection) -> bool:
    kind = conn.exec_driver_sql("SELECT relkind FROM pg_class WHERE oid = to_regclass(%(t)s)", {"t": PARENT}).scalar()
    return kind == "p"


def monthly_partitions(conn: sa.Connection) -> dict[Month, str]:
    """The monthly partitions attached to location_ping, by (year, month)."""
    rows = conn.exec_driver_sql(
        "SELECT c.relname FROM pg_inherits i JOIN pg_class c ON c.oid = i.inhrelid "
        "WHERE i.inhparent = to_regclass(%(t)s)",
        {"t": PARENT},
    ).scalars()
    out: dict[Month, str] = {}
    for name in rows:
        m = _NAME.match(name)
        if m:
            out[(int(m.group(1)), int(m.group(2)))] = name
    return out


def _has_default(conn: sa.Connection) -> bool:
    return bool(
        conn.exec_driver_sql(
            "SELECT 1 FROM pg_inherits i JOIN pg_class c ON c.oid = i.inhrelid "
            "WHERE i.inhparent = to_regclass(%(t)s) AND c.relname = %(d)s",
            {"t": PARENT, "d": DEFAULT_PARTITION},
        ).first()
    )


def create_partition(conn: sa.Connection, month: Month) -> int:
    """Create and attach one month's partition, moving its rows out of the DEFAULT partition.

    Runs inside the caller's transaction (which holds the advisory lock). Returns the number
    of rows moved.
    """
    name = partition_name(month)
    lo, hi = month_bounds(month)
    conn.exec_driver_sql(f"CREATE TABLE {name} (LIKE {PARENT} INCLUDING DEFAULTS)")
    moved = 0
    if _has_default(conn):
        moved = conn.exec_driver_sql(
            f"WITH moved AS (DELETE FROM {DEFAULT_PARTITION} "
            f"WHERE recorded_at >= '{lo}' AND recorded_at < '{hi}' RETURNING {COLUMNS}) "
            f"INSERT INTO {name} ({COLUMNS}) SELECT {COLUMNS} FROM moved"
        ).rowcount
    conn.exec_driver_sql(
        f"ALTER TABLE {name} ADD CONSTRAINT {name}_bound CHECK (recorded_at >= '{lo}' AND recorded_at < '{hi}')"
    )
    conn.exec_driver_sql(f"ALTER TABLE {PARENT} ATTACH PARTITION {name} FOR VALUES FROM ('{lo}') TO ('{hi}')")
    conn.exec_driver_sql(f"ALTER TABLE {name} DROP CONSTRAINT {name}_bound")
    return max(moved, 0)


def ensure_ping_partitions(
    engine: sa.Engine,
    months_ahead: int = 2,
    keep_months: int = 6,
    now: datetime | None = None,
    lock_timeout_ms: int = 5000,
) -> dict[str, Any]:
    """Create the partitions of the current month .. +months_ahead; drop the expired ones.

    A monthly partition is expired when it lies entirely before the start of the month
    `keep_months` before the current one (keep_months=6 in November keeps May onwards).
    Rows of expired months still in the DEFAULT partition are deleted too. Idempotent.
    One function (~70 lines): create, move and drop run in order inside one locked transaction.

    Returns {"created": [names], "dropped": [names], "moved_rows": {name: n},
    "default_rows_deleted": n}, plus "skipped": reason when location_ping is not partitioned
    (a database before migration 0004).
    """
    if keep_months < 1:
        raise ValueError("keep_months must be at least 1")
    now = now or datetime.now(UTC)
    if now.tzinfo is None:
        now = now.replace(tzinfo=UTC)
    now = now.astimezone(UTC)
    current: Month = (now.year, now.month)
    wanted = [add_months(current, i) for i in range(max(months_ahead, 0) + 1)]
    cutoff = add_months(current, -keep_months)  # months before this one are expired

    result: dict[str, Any] = {"created": [], "dropped": [], "moved_rows": {}, "default_rows_deleted": 0}
    with engine.connect() as conn:
        with conn.begin():
            if not _is_partitioned(conn):
                result["skipped"] = f"{PARENT} is not a partitioned table"
                return result
            existing = monthly_partitions(conn)

        # One transaction per step: a failure (say a lock timeout) loses one step, not all.
        for month in wanted:
            if month in existing:
                continue
            with conn.begin():
                _begin(conn, lock_timeout_ms)
                if month in monthly_partitions(conn):  # another process was quicker
                    continue
                moved = create_partition(conn, month)
            name = partition_name(month)
            result["created"].append(name)
            if moved:
                result["moved_rows"][name] = moved

        for month, name in sorted(existing.items()):
            if month >= cutoff:
                continue
            with conn.begin():
                _begin(conn, lock_timeout_ms)
                if month not in monthly_partitions(conn):
                    continue
                conn.exec_driver_sql(f"DROP TABLE {name}")
            result["dropped"].append(name)

        with conn.begin():
            _begin(conn, lock_timeout_ms)
            if _has_default(conn):
                lo, _ = month_bounds(cutoff)
                result["default_rows_deleted"] = max(
                    conn.exec_driver_sql(f"DELETE FROM {DEFAULT_PARTITION} WHERE recorded_at < '{lo}'").rowcount,
                    0,
                )
    return result


def is_ping_partition(table_name: str | None) -> bool:
    """A partition of location_ping (for Alembic's include_name: partitions are not in the metadata)."""
    return bool(table_name) and (table_name == DEFAULT_PARTITION or bool(_NAME.match(table_name or "")))
