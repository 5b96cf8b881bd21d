"""Engine, sessions and migrations for PostgreSQL.

(Over 300 lines: the engine's settings, the typed fast-path statements and the outage translation all
wrap the same engine and belong together.)"""

from __future__ import annotations

import enum
import functools
import select
import time
import weakref
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path
from typing import Any, Generic, NamedTuple, ParamSpec, TypeVar

import psycopg
import sqlalchemy as sa
import structlog
from psycopg.rows import RowMaker
from psycopg.types.json import Jsonb
from sqlalchemy import Engine, create_engine, event, exc
from sqlalchemy.dialects import postgresql
from sqlalchemy.dialects.postgresql import psycopg as sa_psycopg
from sqlalchemy.engine.interfaces import DBAPICursor, ExecutionContext
from sqlalchemy.pool import ConnectionPoolEntry, PoolProxiedConnection
from sqlalchemy.sql.compiler import SQLCompiler
from sqlmodel import Session

from core.config import Settings, sqlalchemy_url
from core.errors import Unavailable
from core.infra import timing

ROOT = Path(__file__).resolve().parents[2]  # the repository: alembic.ini and alembic/


# A pooled connection idle for longer than this is pinged before use; busier ones are only checked for a
# closed socket, which costs no round trip.
IDLE_PING_S = 2.0


def make_engine(url: str, pool_size: int = 10, max_overflow: int = 10, options: str | None = None,
                prepared: bool = True) -> Engine:
    """A pooled engine that picks up a restarted PostgreSQL again by itself (see `_check_on_checkout`).

    `options` are libpq startup options for every connection (`timeout_options` builds the app's).
    `prepared=False` keeps psycopg from preparing statements on the server (it does after a query's 5th run
    on a connection): behind PgBouncer's transaction pooling the next transaction may run on a server
    connection where that statement does not exist.
    """
    connect_args: dict[str, Any] = {"connect_timeout": 5}
    if options:
        connect_args["options"] = options
    if not prepared:
        connect_args["prepare_threshold"] = None
    engine = create_engine(url, pool_size=pool_size, max_overflow=max_overflow, pool_timeout=5,
                           connect_args=connect_args)
    _check_on_checkout(engine)
    return engine


TIMEOUT_SETTINGS = ("statement_timeout", "idle_in_transaction_session_timeout")


def session_timeouts(settings: Settings) -> dict[str, int]:
    """The app's PostgreSQL session timeouts (ms): a statement, lock waits included, and an idle transaction."""
    return dict(zip(TIMEOUT_SETTINGS, (settings.db_statement_timeout_ms, settings.db_idle_in_transaction_timeout_ms),
                    strict=True))


def timeout_options(settings: Settings) -> str | None:
    """The timeouts as startup options: set by PostgreSQL as each connection opens, no round trip per checkout.
    None when `db_startup_options` is off (behind PgBouncer, the role carries them: `role_timeouts_sql`)."""
    if not settings.db_startup_options or settings.database_pooler == "transaction":
        return None
    return " ".join(f"-c {name}={ms}" for name, ms in session_timeouts(settings).items())


def behind_transaction_pooler(settings: Settings | str | None) -> bool:
    return isinstance(settings, Settings) and settings.database_pooler == "transaction"


def role_timeouts_sql(settings: Settings, role: str = "CURRENT_USER", database: str | None = None) -> list[str]:
    """ALTER ROLE statements giving `role` the app's timeouts as its defaults (in `database` only, when named):
    what works through PgBouncer's transaction pooling, where a session's SET or startup options do not follow
    the client."""
    scope = f' IN DATABASE "{database.replace(chr(34), chr(34) * 2)}"' if database else ""
    return [f"ALTER ROLE {role}{scope} SET {name} = {ms}" for name, ms in session_timeouts(settings).items()]


def check_timeouts(engine: Engine, settings: Settings) -> None:
    """On the engine's first connection, log `db_timeouts_missing` if the session's timeouts are not the
    settings' (startup options dropped by a pooler and no role defaults): a stuck lock would then hang workers."""

    @event.listens_for(engine, "first_connect")
    def _check(dbapi_conn, _record) -> None:  # type: ignore[no-untyped-def]
        with dbapi_conn.cursor() as cur:
            cur.execute("SELECT name, setting::int FROM pg_settings WHERE name = ANY(%s)", (list(TIMEOUT_SETTINGS),))
            found = dict(cur.fetchall())
        dbapi_conn.rollback()
        wanted = session_timeouts(settings)
        if found != wanted:
            _log.warning("db_timeouts_missing", wanted=wanted, found=found,
                         fix="DB_STARTUP_OPTIONS=true, or " + "; ".join(role_timeouts_sql(settings)))


def _check_on_checkout(engine: Engine) -> None:
    """Pre-ping only when it can matter.

    SQLAlchemy's `pool_pre_ping` costs a round trip on every checkout, which under load is one
    statement in four. Instead: a connection whose socket has something to read while idle (the
    server closed it, or said it is shutting down) or that sat idle for more than IDLE_PING_S is
    pinged; a dead one is replaced before use. A connection that dies while busy fails its statement,
    and SQLAlchemy then invalidates the whole pool, so the next checkouts connect afresh.
    """

    @event.listens_for(engine, "connect")
    def _connected(dbapi_conn: psycopg.Connection[Any], record: ConnectionPoolEntry) -> None:
        record.info["idle_since"] = time.monotonic()

    @event.listens_for(engine, "checkin")
    def _checked_in(dbapi_conn: psycopg.Connection[Any], record: ConnectionPoolEntry) -> None:
        record.info["idle_since"] = time.monotonic()

    @event.listens_for(engine, "checkout")
    def _checked_out(dbapi_conn: psycopg.Connection[Any], record: ConnectionPoolEntry,
                     proxy: PoolProxiedConnection) -> None:
        idle_since = record.info.get("idle_since")
        if idle_since is None:
            return
        try:
            readable = bool(select.select([dbapi_conn.fileno()], [], [], 0)[0])
        except (OSError, ValueError):
            raise exc.DisconnectionError("connection closed") from None
        if readable or time.monotonic() - idle_since > IDLE_PING_S:
            try:
                engine.dialect.do_ping(dbapi_conn)  # type: ignore[arg-type]  # psycopg's, unlike SQLAlchemy's protocol
            except Exception as e:
                raise exc.DisconnectionError(f"connection dead: {e.__class__.__name__}") from e


def autocommit(engine: Engine) -> Engine:
    """The same pool without BEGIN/ROLLBACK around each session: for reads and single-statement writes.

    At READ COMMITTED (PostgreSQL's default) each statement sees the latest commits either way, so a
    read-only session gains nothing from a transaction but two round trips.
    """
    ac = engine.__dict__.get("_autocommit_engine")
    if ac is None:
        ac = engine.__dict__["_autocommit_engine"] = engine.execution_options(isolation_level="AUTOCOMMIT")
    return ac


def make_read_engine(settings_or_url: Settings | str | None, pool_size: int = 10) -> Engine | None:
    """An engine on the read replica (`database_replica_url`), or None when no replica is configured.

    Only for reads that tolerate replication lag of a second or so: the map layers (technician
    and request markers) and the figures/dashboards. Everything that writes, and every read that
    decides a write (dispatch, job actions, anything under FOR UPDATE), goes to the primary engine.
    Callers fall back to the primary engine when this returns None. A plain postgres:// URL is
    accepted too and normalised like `database_url`. Its sessions are READ ONLY.
    """
    options = None
    if isinstance(settings_or_url, Settings):
        url = settings_or_url.database_replica_url
        options = timeout_options(settings_or_url)
    else:
        url = sqlalchemy_url(settings_or_url)
    if not url:
        return None
    engine = make_engine(url, pool_size=pool_size, options=options,
                         prepared=not behind_transaction_pooler(settings_or_url))

    @event.listens_for(engine, "connect")
    def _read_only(dbapi_conn: psycopg.Connection[Any], _record: ConnectionPoolEntry) -> None:
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


P = ParamSpec("P")
R = TypeVar("R")
OUTAGE_MESSAGE = "The service is unavailable right now."


@contextmanager
def outages_as_unavailable(message: str = OUTAGE_MESSAGE) -> Iterator[None]:
    """Re-raise a database outage (SQLAlchemy's `OperationalError`: server down, connection lost,
    connect timeout) as the core's own `Unavailable`, so callers (pages, API) name no SQLAlchemy type."""
    try:
        yield
    except exc.OperationalError as e:
        raise Unavailable(message, service="database") from e


def translates_outages(fn: Callable[P, R]) -> Callable[P, R]:
    """`outages_as_unavailable` around a whole service: for the read models the pages call each tick."""

    @functools.wraps(fn)
    def wrapper(*args: P.args, **kwargs: P.kwargs) -> R:
        with outages_as_unavailable():
            return fn(*args, **kwargs)

    return wrapper


_SLOW_MS: weakref.WeakKeyDictionary[sa.pool.Pool, int] = weakref.WeakKeyDictionary()  # for HotStatement
_DIALECT = sa_psycopg.dialect()  # type: ignore[no-untyped-call]  # SQLAlchemy leaves this dialect's __init__ bare
_log = structlog.get_logger("tyrehero.db")


RowT = TypeVar("RowT", bound=NamedTuple)


def _rows_of(row: type[RowT]) -> Callable[[psycopg.Cursor[Any]], RowMaker[RowT]]:
    """A psycopg row factory making `row` instances, once the result's column names match its fields
    (as cheap as psycopg's own `namedtuple_row`: the names are compared as the server sent them)."""
    fields: tuple[str, ...] = row._fields
    expected = tuple(f.encode() for f in fields)

    def factory(cur: psycopg.Cursor[Any]) -> RowMaker[RowT]:
        res = cur.pgresult
        if res is not None and res.nfields:
            names = tuple(res.fname(i) for i in range(res.nfields))
            if names != expected:
                raise TypeError(f"{row.__name__} has fields {fields}, the statement returned {names}")
        return row._make

    return factory


class HotStatement(Generic[RowT]):
    """A statement of the hot paths, compiled once, run straight on the connection's psycopg connection.

    SQLAlchemy's execution of a compiled statement (execution context, result metadata, events)
    costs about three times what psycopg itself spends on a short statement; for the few statements
    every request and ping runs, that is most of the client's CPU per statement. Runs inside the
    caller's transaction on `c` (or autocommit, as `c` is); errors come out as SQLAlchemy's own
    (`IntegrityError`, `OperationalError`, ...), a lost connection is invalidated as SQLAlchemy
    does, and slow statements are logged as `log_slow_queries` logs the rest. Rows are named
    tuples of the class `row` (by position and by column name; its fields must be the columns, in order).
    """

    def __init__(self, stmt: sa.ClauseElement, row: type[RowT]) -> None:
        self._row_factory = _rows_of(row)
        compiled = stmt.compile(dialect=_DIALECT)
        if not isinstance(compiled, SQLCompiler):
            raise TypeError(f"not a statement HotStatement can run: {stmt!r}")
        self._required: set[str] = set()
        self._json: set[str] = set()
        for bind, name in compiled.bind_names.items():
            if isinstance(bind.type, (sa.JSON, postgresql.JSONB)):
                self._json.add(name)
            if bind.required:
                self._required.add(name)
        if compiled.post_compile_params:  # IN (constants): expanded once, here, instead of on every call
            state = compiled.construct_expanded_state({name: None for name in self._required})
            self.sql, values = state.statement, state.parameters
        else:
            self.sql, values = str(compiled), compiled.params
        # Constants of the statement (statuses are str enums): their values, as SQLAlchemy would bind them.
        self._defaults: dict[str, Any] = {
            k: v.value if isinstance(v, enum.Enum) else v for k, v in values.items() if k not in self._required}
        self.name = statement_name(self.sql)
        for name in self._json & set(self._defaults):
            self._defaults[name] = Jsonb(self._defaults[name])

    def __call__(self, c: sa.Connection, params: Mapping[str, Any] | None = None) -> psycopg.Cursor[RowT]:
        given = dict(params or {})
        missing = self._required - given.keys()
        if missing:
            raise KeyError(f"{self.name}: no value for {sorted(missing)}")
        for name in self._json & given.keys():
            given[name] = Jsonb(given[name])
        raw: psycopg.Connection[Any] | None = c.connection.driver_connection
        if raw is None:
            raise exc.ResourceClosedError(f"{self.name}: the connection is closed")
        start = time.perf_counter()
        try:
            cur = raw.cursor(row_factory=self._row_factory)
            cur.execute(self.sql, {**self._defaults, **given})
        except psycopg.Error as e:
            gone = c.dialect.is_disconnect(e, raw, None)  # type: ignore[arg-type]  # psycopg's are DB-API errors
            if gone:
                c.invalidate(e)
            raise exc.DBAPIError.instance(self.sql, None, e, psycopg.Error, connection_invalidated=gone) from e
        finally:
            timing.add_db(time.perf_counter() - start)
        threshold = _SLOW_MS.get(c.engine.pool)
        if threshold is not None and (ms := (time.perf_counter() - start) * 1000) >= threshold:
            _log.warning("slow_query", ms=round(ms, 1), statement=self.name)
        return cur


def log_slow_queries(engine: Engine, threshold_ms: int) -> None:
    """Log statements slower than the threshold: the statement's first words name it; parameters are never logged."""
    _SLOW_MS[engine.pool] = threshold_ms

    @event.listens_for(engine, "before_cursor_execute")
    def _start(conn: sa.Connection, cursor: DBAPICursor, statement: str, parameters: Any,
               context: ExecutionContext | None, executemany: bool) -> None:
        conn.info.setdefault("query_start", []).append(time.perf_counter())

    @event.listens_for(engine, "handle_error")
    def _failed(ctx):  # type: ignore[no-untyped-def]  # a failed statement (a timeout, say) counts its time too
        started = ctx.connection.info.get("query_start") if ctx.connection is not None else None
        if started:
            timing.add_db(time.perf_counter() - started.pop())

    @event.listens_for(engine, "after_cursor_execute")
    def _end(conn: sa.Connection, cursor: DBAPICursor, statement: str, parameters: Any,
             context: ExecutionContext | None, executemany: bool) -> None:
        elapsed_ms = (time.perf_counter() - conn.info["query_start"].pop()) * 1000
        timing.add_db(elapsed_ms / 1000)
        if elapsed_ms >= threshold_ms:
            _log.warning("slow_query", ms=round(elapsed_ms, 1), statement=statement_name(statement))


def statement_name(statement: str) -> str:
    """A short, parameter-free name for a statement: its verb and first table."""
    words = " ".join(statement.split()).split(" ")
    verb = words[0].upper() if words else "?"
    for marker in ("FROM", "INTO", "UPDATE"):
        upper = [w.upper() for w in words]
        if marker in upper[:40]:
            i = upper.index(marker)
            if i + 1 < len(words):
                if marker == "UPDATE":
                    return f"UPDATE {words[1].lower()}"
                return f"{verb} {words[i + 1].strip('(').lower()}"
    return verb


def migrate(url: str) -> None:
    """Bring the schema to the newest migration (`alembic upgrade head`)."""
    # Imported here: only start-up and `python -m core migrate` need alembic, not every process that uses the db.
    from alembic.config import Config

    from alembic import command

    cfg = Config(str(ROOT / "alembic.ini"))
    cfg.set_main_option("script_location", str(ROOT / "alembic"))
    cfg.attributes["url"] = url
    command.upgrade(cfg, "head")
