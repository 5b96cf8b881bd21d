"""Engine, sessions and migrations for PostgreSQL."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from sqlalchemy import Engine, create_engine, event
from sqlmodel import Session

from core.config import Settings, sqlalchemy_url

ROOT = Path(__file__).resolve().parent.parent


def make_engine(url: str, pool_size: int = 10) -> Engine:
    """A pooled engine; pre-ping so a restarted PostgreSQL is picked up again by itself."""
    return create_engine(
        url,
        pool_size=pool_size,
        max_overflow=20,
        pool_pre_ping=True,
        pool_timeout=5,
        connect_args={"connect_timeout": 5},
    )


def make_read_engine(settings_or_url: Settings | str | None, pool_size: int = 10) -> Engine | None:
    """An engine on the read replica (`database_replica_url`), or None when no replica is configured.

    Only for reads that tolerate replication lag of a second or so: the map layers (technician
    and request markers) and the figures/dashboards. Everything that writes, and every read that
    decides a write (dispatch, job actions, anything under FOR UPDATE), goes to the primary engine.
    Callers fall back to the primary engine when this returns None. A plain postgres:// URL is
    accepted too and normalised like `database_url`. Its sessions are READ ONLY.
    """
    if isinstance(settings_or_url, Settings):
        url = settings_or_url.database_replica_url
    else:
        url = sqlalchemy_url(settings_or_url)
    if not url:
        return None
    engine = make_engine(url, pool_size=pool_size)

    @event.listens_for(engine, "connect")
    def _read_only(dbapi_conn, _record) -> None:  # type: ignore[no-untyped-def]
        # A write sent here by mistake fails loudly even when the URL points at a primary.
        with dbapi_conn.cursor() as cur:
            cur.execute("SET SESSION CHARACTERISTICS AS TRANSACTION READ ONLY")
        dbapi_conn.commit()

    return engine


@contextmanager
def session_scope(engine: Engine) -> Iterator[Session]:
    """One transaction: commit on success, roll back on any error."""
    with Session(engine, expire_on_commit=False) as session:
        try:
            yield session
            session.commit()
        except BaseException:
            session.rollback()
            raise


def log_slow_queries(engine: Engine, threshold_ms: int) -> None:
    """Log statements slower than the threshold: the statement's first words name it; parameters are never logged."""
    import time

    import structlog
    from sqlalchemy import event

    log = structlog.get_logger("tyrehero.db")

    @event.listens_for(engine, "before_cursor_execute")
    def _start(conn, cursor, statement, parameters, context, executemany):  # type: ignore[no-untyped-def]
        conn.info.setdefault("query_start", []).append(time.perf_counter())

    @event.listens_for(engine, "after_cursor_execute")
    def _end(conn, cursor, statement, parameters, context, executemany):  # type: ignore[no-untyped-def]
        elapsed_ms = (time.perf_counter() - conn.info["query_start"].pop()) * 1000
        if elapsed_ms >= threshold_ms:
            log.warning("slow_query", ms=round(elapsed_ms, 1), statement=statement_name(statement))


def statement_name(statement: str) -> str:
    """A short, parameter-free name for a statement: its verb and first table."""
    words = " ".join(statement.split()).split(" ")
    verb = words[0].upper() if words else "?"
    for marker in ("FROM", "INTO", "UPDATE"):
        upper = [w.upper() for w in words]
        if marker in upper[:40]:
            i = upper.index(marker)
            if i + 1 < len(words):
                return f"{verb} {words[i + 1].strip('(').lower()}" if marker != "UPDATE" else f"UPDATE {words[1].lower()}"
    return verb


def migrate(url: str) -> None:
    """Bring the schema to the newest migration (`alembic upgrade head`)."""
    from alembic.config import Config

    from alembic import command

    cfg = Config(str(ROOT / "alembic.ini"))
    cfg.set_main_option("script_location", str(ROOT / "alembic"))
    cfg.attributes["url"] = url
    command.upgrade(cfg, "head")
