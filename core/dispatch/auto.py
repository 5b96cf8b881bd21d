"""Auto-dispatch: nearest suitable technician by ETA, claimed without any chance of double assignment.

(Over 300 lines: the search, the one claim and the sweep share the claim's statement and its retry rules.)"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from datetime import datetime, timedelta
from typing import NamedTuple

import sqlalchemy as sa
from sqlalchemy.exc import IntegrityError
from sqlmodel import Session, col, select

from core.context import Core
from core.dispatch.batch import (
    BATCH_CANDIDATES,
    BATCH_WINDOW,
    MIN_ETA_MIN,
    Option,
    WaitingRequest,
    batch_round,
    window,
)
from core.index.base import Candidate, IndexedTech, TechFilter
from core.infra.db import HotStatement, autocommit
from core.infra.events import DomainEvent
from core.infra.metrics import DISPATCH_LATENCY
from core.models import RequestEvent, ServiceRequest, Technician, table_of, utcnow
from core.principal import Principal
from core.states import RequestStatus, TechStatus

log = logging.getLogger(__name__)

SWEEP_LOCK = 725002
SWEEP_LOCK_IDLE_MS = 300_000  # a sweep of a surge's backlog may take this long; its lock is never cut short
AUTO_DISPATCH = Principal.system("auto-dispatch")


def dispatch_filter(core: Core, capabilities: Iterable[str], exclude: Iterable[int] = ()) -> TechFilter:
    """Who may be offered a request: available, with its capabilities, a fresh position, not excluded.

    The one way the services build a TechFilter (suggestions, dispatch, the sweeps, intake)."""
    return TechFilter(capabilities=frozenset(capabilities), max_age_s=core.settings.position_max_age_s,
                      exclude=frozenset(exclude))


def reach_minutes(core: Core) -> float:
    """The longest ETA auto-dispatch offers a van for: the SLA plus the margin (farther vans: a dispatcher's call)."""
    return core.settings.sla_minutes + core.settings.auto_dispatch_margin_min


def within_reach(core: Core, candidates: Iterable[Candidate]) -> list[Candidate]:
    """The candidates auto-dispatch may offer the request to (`reach_minutes`)."""
    reach = reach_minutes(core)
    return [c for c in candidates if c.eta_minutes <= reach]


def suggestions(core: Core, request_id: int, n: int = 5) -> list[Candidate]:
    """Available technicians ranked by ETA for a request."""
    with Session(core.engine) as s:
        req = s.get(ServiceRequest, request_id)
    if req is None:
        return []
    return core.index.nearest(req.lat, req.lng, n, dispatch_filter(core, req.required_capabilities))


def dispatch_request(core: Core, request_id: int, exclude: frozenset[int] = frozenset()) -> int | None:
    """Try the best candidates in turn; return the technician id assigned, or None (request stays pending)."""
    with DISPATCH_LATENCY.time():
        return _dispatch(core, request_id, exclude)


# Technicians who declined, or whom a dispatcher took off this job, are not offered it again.
_NOT_AGAIN = ("declined", "unassigned")


# The request and whom it must not go to again, in one statement.
_DISPATCH_READ = sa.select(
    col(ServiceRequest.status), col(ServiceRequest.lat), col(ServiceRequest.lng),
    col(ServiceRequest.required_capabilities),
    sa.select(sa.func.array_agg(RequestEvent.data["technician_id"].as_integer()))
    .where(col(RequestEvent.request_id) == ServiceRequest.id, col(RequestEvent.kind).in_(_NOT_AGAIN),
           RequestEvent.data.has_key(  # type: ignore[attr-defined]  # JSONB's; SQLModel types the column a dict
               "technician_id"))
    .scalar_subquery(),
).where(col(ServiceRequest.id) == sa.bindparam("request_id"))


def _dispatch(core: Core, request_id: int, exclude: frozenset[int]) -> int | None:
    with autocommit(core.engine).connect() as c:
        row = c.execute(_DISPATCH_READ, {"request_id": request_id}).first()
    if row is None or row[0] != RequestStatus.PENDING:
        return None
    _status, lat, lng, capabilities, not_again = row
    f = dispatch_filter(core, capabilities, exclude | frozenset(not_again or ()))
    for cand in within_reach(core, core.index.nearest(lat, lng, core.settings.dispatch_candidates, f)):
        if claim(core, request_id, cand.technician_id, round(cand.eta_minutes)):
            return cand.technician_id
    return None


class ClaimedRow(NamedTuple):
    """What a claim returns of the technician: what the submitter's answer shows."""

    name: str
    van_label: str
    van_reg: str


# A claim's statements, built once: a claim follows nearly every new request. The technician's row is
# claimed only while available and active; it returns what the submitter's answer shows (core.requests.store).
_CLAIM_TECH = HotStatement(
    sa.update(Technician)
    .where(col(Technician.id) == sa.bindparam("tech_id"), col(Technician.status) == TechStatus.AVAILABLE,
           col(Technician.active))
    .values(status=TechStatus.ASSIGNED, version=Technician.version + 1)
    .returning(col(Technician.name), col(Technician.van_label), col(Technician.van_reg)),
    ClaimedRow,
)
_CLAIM_REQUEST = (
    sa.update(ServiceRequest)
    .where(col(ServiceRequest.id) == sa.bindparam("request_id"), col(ServiceRequest.status) == RequestStatus.PENDING)
    .values(status=RequestStatus.ASSIGNED, technician_id=sa.bindparam("tech_id"), assigned_at=sa.bindparam("now"),
            accepted_at=None, eta_minutes=sa.bindparam("eta"), version=ServiceRequest.version + 1)
)
_CLAIM_EVENT = sa.insert(RequestEvent).values(
    request_id=sa.bindparam("request_id"), at=sa.bindparam("at"), kind="assigned", actor=sa.bindparam("actor"),
    actor_id=sa.bindparam("actor_id"), actor_role=sa.bindparam("actor_role"),
    data=sa.bindparam("data", type_=table_of(RequestEvent).c.data.type),
)


def claim_technician(core: Core, c: sa.Connection, tech_id: int) -> ClaimedRow | None:
    """The claim of a technician, inside the caller's transaction: compare-and-set in Redis, then the row.

    The one claim of both paths that assign (`claim` below, and intake storing a request already
    assigned). PostgreSQL decides: the row is claimed only if still available and active. Returns the
    row's (name, van_label, van_reg), or None when Redis or the row says no; Redis is then set back
    from the row. A caller whose transaction rolls back after a claim must `resync_technician` too.
    """
    if core.index.try_claim(tech_id) is False:
        return None
    row = _CLAIM_TECH(c, {"tech_id": tech_id}).fetchone()
    if row is None:
        resync_technician(core, tech_id)
    return row


def claim(core: Core, request_id: int, tech_id: int, eta_minutes: int | None, who: Principal = AUTO_DISPATCH) -> bool:
    """Claim the technician (`claim_technician`), then the pending request, in one transaction.

    The request must still be pending, and a unique index allows one active job per technician.
    On any failure nothing changes, and the Redis entry is set back from the row.
    """
    try:
        with core.engine.begin() as c:
            tech = claim_technician(core, c, tech_id)
            if tech is None:
                return False
            r = c.execute(_CLAIM_REQUEST, {"request_id": request_id, "tech_id": tech_id, "now": utcnow(),
                                           "eta": eta_minutes})
            if r.rowcount != 1:
                raise _Lost
            c.execute(_CLAIM_EVENT, {"request_id": request_id, "at": utcnow(), **who.actor_columns(),
                                     "data": {"technician_id": tech_id, "technician": tech.name,
                                              "eta_minutes": eta_minutes}})
    except (_Lost, IntegrityError):
        resync_technician(core, tech_id)
        return False
    except BaseException:
        resync_technician(core, tech_id)
        raise
    core.bus.publish(DomainEvent("technician_assigned", request_id=request_id, technician_id=tech_id,
                                 data={"eta_minutes": eta_minutes, "actor": who.name}))
    return True


class _Lost(Exception):
    """Someone else changed the request or the technician first."""


class IndexedRow(NamedTuple):
    """What the index holds of a technician (INDEXED_COLUMNS), as `index_row` reads it."""

    id: int
    status: str
    active: bool
    lat: float | None
    lng: float | None
    capabilities: list[str]
    position_at: datetime | None


INDEXED_COLUMNS = (col(Technician.id), col(Technician.status), col(Technician.active), col(Technician.lat),
                   col(Technician.lng), col(Technician.capabilities), col(Technician.position_at))


_RESYNC_READ = sa.select(*INDEXED_COLUMNS).where(col(Technician.id) == sa.bindparam("tech_id"))


def resync_technician(core: Core, tech_id: int) -> None:
    """Copy one technician's row into the index (the row is the truth)."""
    with autocommit(core.engine).connect() as c:
        row = c.execute(_RESYNC_READ, {"tech_id": tech_id}).first()
    if row is not None:
        index_row(core, IndexedRow._make(row))


def index_row(core: Core, row: IndexedRow) -> None:
    """Put a technician's row (INDEXED_COLUMNS) into the index, or take it out when off shift."""
    tech_id, status, active, lat, lng, capabilities, position_at = row
    if status == TechStatus.OFFLINE or lat is None or lng is None or not active:
        core.index.remove(tech_id)
    else:
        ts = position_at.timestamp() if position_at else 0.0
        core.index.upsert(IndexedTech(tech_id, lat, lng, status, frozenset(capabilities), ts))


def after_release(core: Core, request_id: int | None, tech_id: int | None) -> None:
    """A request went back to pending or a technician became free: resync and dispatch again."""
    if tech_id is not None:
        resync_technician(core, tech_id)
    if request_id is not None:
        with Session(core.engine) as s:
            req = s.get(ServiceRequest, request_id)
        if req and req.technician_id and req.technician_id != tech_id:
            resync_technician(core, req.technician_id)
        core.bus.publish(DomainEvent("request_changed", request_id=request_id, technician_id=tech_id))
    request_sweep(core)


def request_sweep(core: Core) -> None:
    """Dispatch waiting requests soon: the process's sweeper does it (one sweep for every van freed
    within a moment, off the caller's request), or, where no sweeper runs, the caller does it now."""
    if core.sweep_soon is not None:
        try:
            core.sweep_soon()
            return
        except RuntimeError:  # the sweeper's event loop has closed (shutting down)
            core.sweep_soon = None
    sweep_pending(core)


def sweep_pending(core: Core, limit: int = 100) -> int:
    """Dispatch waiting requests; one process sweeps at a time.

    With the batch policy, waiting requests are first assigned together; whatever the batch could
    not place (its candidate lists ran out in a crowded area) then goes greedy, most urgent first.
    """
    assigned = 0
    if not _anyone_free(core):
        return 0  # every van busy (a surge): no lookup could end in a claim, so none is made
    if core.settings.dispatch_policy == "batch" and _pending_at_least(core, 2):
        assigned = sweep_batch(core)
        if not _anyone_free(core):
            return assigned
    with _sweep_lock(core) as got:
        if not got:
            return assigned
        with Session(core.engine) as s:
            ids = s.exec(
                select(ServiceRequest.id)
                .where(ServiceRequest.status == RequestStatus.PENDING)
                .order_by(col(ServiceRequest.priority), col(ServiceRequest.created_at))
                .limit(limit)
            ).all()
        for rid in ids:
            if rid is not None and dispatch_request(core, rid) is not None:
                assigned += 1
    return assigned


# --- Batch dispatch (issue 8): several waiting requests assigned at once, see core/dispatch/batch.py ---


# A claim needs the technician's row available and active (_CLAIM_TECH): without one, nothing can be
# assigned, so neither a sweep nor a new request searches the index (core.requests.store reads it too).
ANYONE_FREE = sa.exists().where(col(Technician.status) == TechStatus.AVAILABLE, col(Technician.active))


class _AnyoneFree(NamedTuple):
    anyone_free: bool


_ANYONE_FREE = HotStatement(sa.select(ANYONE_FREE.label("anyone_free")), _AnyoneFree)


def _anyone_free(core: Core) -> bool:
    with autocommit(core.engine).connect() as c:
        row = _ANYONE_FREE(c).fetchone()
    return row is not None and row.anyone_free


def _pending_at_least(core: Core, n: int) -> bool:
    with Session(core.engine) as s:
        found = s.exec(select(ServiceRequest.id).where(ServiceRequest.status == RequestStatus.PENDING).limit(n)).all()
    return len(found) >= n


@contextmanager
def _sweep_lock(core: Core) -> Iterator[bool]:
    """The sweep's lock: True if this process got it; one sweep (greedy or batch) runs at a time.

    A transaction-scoped advisory lock held by a transaction of its own for the sweep's length: it works
    behind PgBouncer's transaction pooling (a session lock would stay on a server connection that others
    then borrow), and it ends with that transaction however the sweep ends. The transaction sits idle while
    the sweep works on other connections, so it lifts the idle-in-transaction timeout for itself only
    (SET LOCAL; `SWEEP_LOCK_IDLE_MS`)."""
    with core.engine.connect() as lock_conn:
        lock_conn.execute(sa.text(f"SET LOCAL idle_in_transaction_session_timeout = {SWEEP_LOCK_IDLE_MS}"))
        got = bool(lock_conn.execute(sa.text("SELECT pg_try_advisory_xact_lock(:k)"), {"k": SWEEP_LOCK}).scalar())
        try:
            yield got
        finally:
            lock_conn.rollback()  # ends the transaction: the lock goes with it


def sweep_batch(core: Core, limit: int = BATCH_WINDOW) -> int:
    """Assign the waiting requests all at once (core.dispatch.batch.batch_round), then claim each pair.

    Candidates come from the index (Redis, or PostgreSQL when Redis is out). A lost claim
    leaves its request pending for the next sweep; nothing bypasses `claim`.
    """
    with _sweep_lock(core) as got:
        if not got:
            return 0
        sla = core.settings.sla_minutes
        now = utcnow()
        # Still on time first (core.dispatch.batch.window's order), then most urgent and oldest.
        late = sa.case((col(ServiceRequest.created_at) >= now - timedelta(minutes=sla - MIN_ETA_MIN), 0), else_=1)
        with Session(core.engine) as s:
            reqs = {r.id: r for r in s.exec(
                select(ServiceRequest).where(ServiceRequest.status == RequestStatus.PENDING)
                .order_by(late, col(ServiceRequest.priority), col(ServiceRequest.created_at)).limit(limit)
            ).all() if r.id is not None}
            declined: dict[int, set[int]] = {}
            for rid, data in s.exec(select(RequestEvent.request_id, RequestEvent.data).where(
                    col(RequestEvent.request_id).in_(list(reqs)), RequestEvent.kind == "declined")).all():
                if "technician_id" in data:
                    declined.setdefault(rid, set()).add(int(data["technician_id"]))
        waiting = [WaitingRequest(rid, r.lat, r.lng, r.priority, (now - r.created_at).total_seconds() / 60,
                                  frozenset(r.required_capabilities)) for rid, r in reqs.items()]

        def lookup(w: WaitingRequest, n: int, exclude: frozenset[int]) -> list[Option]:
            f = dispatch_filter(core, w.capabilities, exclude | frozenset(declined.get(w.id, ())))
            found = within_reach(core, core.index.nearest(w.lat, w.lng, n, f))
            return [Option(c.technician_id, c.eta_minutes) for c in found]

        pairs = batch_round(window(waiting, sla, limit), lookup, sla, k=BATCH_CANDIDATES)
        return sum(claim(core, a.request_id, a.technician_id, round(a.eta_minutes)) for a in pairs)
