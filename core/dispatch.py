"""Auto-dispatch: nearest suitable technician by ETA, claimed without any chance of double assignment."""

from __future__ import annotations

import logging
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import timedelta

import sqlalchemy as sa
from sqlalchemy.exc import IntegrityError
from sqlmodel import Session, col, select

from core.batch import BATCH_CANDIDATES, BATCH_WINDOW, MIN_ETA_MIN, Option, WaitingRequest, batch_round, window
from core.bootstrap import Core, tech_to_indexed
from core.db import session_scope
from core.events import DomainEvent
from core.index.base import Candidate, TechFilter
from core.metrics import DISPATCH_LATENCY
from core.models import RequestEvent, ServiceRequest, Technician, utcnow

log = logging.getLogger(__name__)

SWEEP_LOCK = 725002


def tech_filter(core: Core, req: ServiceRequest, exclude: frozenset[int] = frozenset()) -> TechFilter:
    return TechFilter(
        capabilities=frozenset(req.required_capabilities),
        max_age_s=core.settings.position_max_age_s,
        exclude=exclude,
    )


def suggestions(core: Core, request_id: int, n: int = 5) -> list[Candidate]:
    """Available technicians ranked by ETA for a request."""
    with Session(core.engine) as s:
        req = s.get(ServiceRequest, request_id)
    if req is None:
        return []
    return core.index.nearest(req.lat, req.lng, n, tech_filter(core, req))


def dispatch_request(core: Core, request_id: int, exclude: frozenset[int] = frozenset()) -> int | None:
    """Try the best candidates in turn; return the technician id assigned, or None (request stays pending)."""
    with DISPATCH_LATENCY.time():
        return _dispatch(core, request_id, exclude)


def _dispatch(core: Core, request_id: int, exclude: frozenset[int]) -> int | None:
    with Session(core.engine) as s:
        req = s.get(ServiceRequest, request_id)
    if req is None or req.status != "pending":
        return None
    declined = _declined_by(core, request_id)
    for cand in core.index.nearest(req.lat, req.lng, core.settings.dispatch_candidates, tech_filter(core, req, exclude | declined)):
        if claim(core, request_id, cand.technician_id, round(cand.eta_minutes)):
            return cand.technician_id
    return None


def _declined_by(core: Core, request_id: int) -> frozenset[int]:
    with Session(core.engine) as s:
        rows = s.exec(
            # Technicians who declined, or whom a dispatcher took off this job, are not offered it again.
            select(RequestEvent.data).where(RequestEvent.request_id == request_id,
                                            col(RequestEvent.kind).in_(("declined", "unassigned")))
        ).all()
    return frozenset(int(d["technician_id"]) for d in rows if "technician_id" in d)


def claim(core: Core, request_id: int, tech_id: int, eta_minutes: int | None, actor: str = "auto-dispatch") -> bool:
    """Compare-and-set in Redis, then conditional updates of both rows in one transaction.

    PostgreSQL decides: the technician must still be available and the request still pending,
    and a unique index allows one active job per technician. On any failure nothing changes,
    and the Redis entry is set back from the row.
    """
    won_in_redis = core.index.try_claim(tech_id)
    if won_in_redis is False:
        return False
    now = utcnow()
    try:
        with session_scope(core.engine) as s:
            t = s.execute(
                sa.update(Technician)
                .where(col(Technician.id) == tech_id, col(Technician.status) == "available", col(Technician.active))
                .values(status="assigned", version=Technician.version + 1)
            )
            r = s.execute(
                sa.update(ServiceRequest)
                .where(col(ServiceRequest.id) == request_id, col(ServiceRequest.status) == "pending")
                .values(status="assigned", technician_id=tech_id, assigned_at=now, accepted_at=None,
                        eta_minutes=eta_minutes, version=ServiceRequest.version + 1)
            )
            if t.rowcount != 1 or r.rowcount != 1:  # type: ignore[attr-defined]
                raise _Lost
            tech = s.get(Technician, tech_id)
            s.add(RequestEvent(request_id=request_id, kind="assigned", actor=actor,
                               data={"technician_id": tech_id, "technician": tech.name if tech else "", "eta_minutes": eta_minutes}))
    except (_Lost, IntegrityError):
        resync_technician(core, tech_id)
        return False
    except BaseException:
        resync_technician(core, tech_id)
        raise
    core.bus.publish(DomainEvent("technician_assigned", request_id=request_id, technician_id=tech_id,
                                 data={"eta_minutes": eta_minutes, "actor": actor}))
    return True


class _Lost(Exception):
    """Someone else changed the request or the technician first."""


def resync_technician(core: Core, tech_id: int) -> None:
    """Copy one technician's row into the index (the row is the truth)."""
    with Session(core.engine) as s:
        t = s.get(Technician, tech_id)
    if t is None:
        return
    if t.status == "offline" or t.lat is None or not t.active:
        core.index.remove(tech_id)
    else:
        core.index.upsert(tech_to_indexed(t))


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
    sweep_pending(core)


def sweep_pending(core: Core, limit: int = 100) -> int:
    """Dispatch waiting requests; one process sweeps at a time.

    With the batch policy, waiting requests are first assigned together; whatever the batch could
    not place (its candidate lists ran out in a crowded area) then goes greedy, most urgent first.
    """
    assigned = 0
    if core.settings.dispatch_policy == "batch" and _pending_at_least(core, 2):
        assigned = sweep_batch(core)
    with core.engine.connect() as lock_conn:
        got = lock_conn.execute(sa.text("SELECT pg_try_advisory_lock(:k)"), {"k": SWEEP_LOCK}).scalar()
        if not got:
            return assigned
        try:
            with Session(core.engine) as s:
                ids = s.exec(
                    select(ServiceRequest.id)
                    .where(ServiceRequest.status == "pending")
                    .order_by(col(ServiceRequest.priority), col(ServiceRequest.created_at))
                    .limit(limit)
                ).all()
            for rid in ids:
                if dispatch_request(core, rid) is not None:  # type: ignore[arg-type]
                    assigned += 1
        finally:
            lock_conn.execute(sa.text("SELECT pg_advisory_unlock(:k)"), {"k": SWEEP_LOCK})
            lock_conn.commit()
    return assigned


# --- Batch dispatch (issue 8): several waiting requests assigned at once, see core/batch.py ---


def _pending_at_least(core: Core, n: int) -> bool:
    with Session(core.engine) as s:
        found = s.exec(select(ServiceRequest.id).where(ServiceRequest.status == "pending").limit(n)).all()
    return len(found) >= n


@contextmanager
def _sweep_lock(core: Core) -> Iterator[bool]:
    """The sweep's advisory lock (the one sweep_pending takes): True if this process got it."""
    with core.engine.connect() as lock_conn:
        got = bool(lock_conn.execute(sa.text("SELECT pg_try_advisory_lock(:k)"), {"k": SWEEP_LOCK}).scalar())
        try:
            yield got
        finally:
            if got:
                lock_conn.execute(sa.text("SELECT pg_advisory_unlock(:k)"), {"k": SWEEP_LOCK})
                lock_conn.commit()


def sweep_batch(core: Core, limit: int = BATCH_WINDOW) -> int:
    """Assign the waiting requests all at once (core.batch.batch_round), then claim each pair.

    Candidates come from the index (Redis, or PostgreSQL when Redis is out). A lost claim
    leaves its request pending for the next sweep; nothing bypasses `claim`.
    """
    with _sweep_lock(core) as got:
        if not got:
            return 0
        sla = core.settings.sla_minutes
        now = utcnow()
        # Still on time first (core.batch.window's order), then most urgent and oldest.
        late = sa.case((col(ServiceRequest.created_at) >= now - timedelta(minutes=sla - MIN_ETA_MIN), 0), else_=1)
        with Session(core.engine) as s:
            reqs = {r.id: r for r in s.exec(
                select(ServiceRequest).where(ServiceRequest.status == "pending")
                .order_by(late, col(ServiceRequest.priority), col(ServiceRequest.created_at)).limit(limit)
            ).all()}
            declined: dict[int, set[int]] = {}
            for rid, data in s.exec(select(RequestEvent.request_id, RequestEvent.data).where(
                    col(RequestEvent.request_id).in_(list(reqs)), RequestEvent.kind == "declined")).all():
                if "technician_id" in data:
                    declined.setdefault(rid, set()).add(int(data["technician_id"]))
        waiting = [WaitingRequest(rid, r.lat, r.lng, r.priority, (now - r.created_at).total_seconds() / 60,
                                  frozenset(r.required_capabilities)) for rid, r in reqs.items()]

        def lookup(w: WaitingRequest, n: int, exclude: frozenset[int]) -> list[Option]:
            f = tech_filter(core, reqs[w.id], exclude | frozenset(declined.get(w.id, ())))
            return [Option(c.technician_id, c.eta_minutes) for c in core.index.nearest(w.lat, w.lng, n, f)]

        pairs = batch_round(window(waiting, sla, limit), lookup, sla, k=BATCH_CANDIDATES)
        return sum(claim(core, a.request_id, a.technician_id, round(a.eta_minutes)) for a in pairs)
