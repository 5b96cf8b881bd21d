"""The technician service: shift status, positions, and the job workflow.

Shift and job steps name who acts: a technician acts for themselves only; the system (offer timeouts,
the demo simulator) acts for any technician it names. The check compares fields of the principal and
costs no statement: these are the phones' hot paths.

Kept as one module (over 300 lines): the app's technician page and API use it as one service (`jobs as svc`);
splitting shift and job steps is left for when those callers move with it."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, NamedTuple

import h3
import sqlalchemy as sa
from sqlmodel import Session, col, select

from core.context import Core
from core.dispatch.auto import IndexedRow, after_release, index_row, resync_technician
from core.errors import Forbidden, IllegalTransition, NotFound
from core.geo.sphere import haversine_km
from core.infra.db import HotStatement, autocommit, session_scope
from core.infra.events import DomainEvent
from core.models import RequestEvent, ServiceRequest, Technician, table_of, utcnow
from core.notify.arriving import note_position
from core.principal import Principal, Role
from core.schemas import ISSUE_LABELS, Issue, JobView
from core.states import (
    ON_A_JOB,
    REQUEST_TRANSITIONS,
    TECH_TRANSITIONS,
    RequestStatus,
    TechStatus,
    request_transition,
    sql_list,
    tech_transition,
)

ACTIVE = ON_A_JOB
OFFER_TIMEOUT = Principal.system("no answer in time")


def acting_for(who: Principal, tech_id: int | None = None) -> int:
    """The technician `who` acts for: a technician's own (naming another is refused), or, for the
    system, the one it names."""
    if who.role == Role.TECHNICIAN:
        if who.technician_id is None:
            raise NotFound("This account is not linked to a technician.")
        if tech_id is not None and tech_id != who.technician_id:
            raise Forbidden("Your account cannot do this.")
        return who.technician_id
    if who.role == Role.SYSTEM and tech_id is not None:
        return tech_id
    raise Forbidden("Your account cannot do this.")


@dataclass(frozen=True)
class PositionIn:
    lat: float
    lng: float
    recorded_at: datetime
    accuracy_m: float | None = None


def set_shift_status(core: Core, who: Principal, status: TechStatus, tech_id: int | None = None) -> Technician:
    """available / break / offline, as the technician toggles them (or the system, for `tech_id`)."""
    tech_id = acting_for(who, tech_id)
    if status not in (TechStatus.AVAILABLE, TechStatus.BREAK, TechStatus.OFFLINE):
        raise IllegalTransition("a technician can only choose available, break or offline")
    with session_scope(core.engine) as s:
        t = s.exec(select(Technician).where(Technician.id == tech_id).with_for_update()).first()
        if t is None or not t.active:
            raise NotFound("no such technician")
        if t.status != status:
            tech_transition(t.status, status)
            t.status = status.value
            t.version += 1
            s.add(t)
    resync_technician(core, tech_id)
    core.bus.publish(DomainEvent("technician_status_changed", technician_id=tech_id, data={"status": status.value}))
    if status == TechStatus.AVAILABLE:
        after_release(core, None, tech_id)
    return t


# One statement per report, whatever the batch size: the history rows ride along in a WITH (arrays
# unnested), so there is no transaction round trip and the SQL is prepared once per connection. The
# same statement says which job the technician holds, so a phone learns of an offer from the answer
# to its position report instead of asking for its job after every one.
class _PositionsRow(NamedTuple):
    """The technician's INDEXED_COLUMNS after the move (all None when a newer position was stored), and
    their active job."""

    id: int | None
    status: str | None
    active: bool | None
    lat: float | None
    lng: float | None
    capabilities: list[str] | None
    position_at: datetime | None
    job_id: int | None


_RECORD_POSITIONS = HotStatement(sa.text(
    "WITH history AS ("
    " INSERT INTO location_ping (technician_id, lat, lng, accuracy_m, recorded_at)"
    " SELECT :tech_id, * FROM unnest(CAST(:lats AS float8[]), CAST(:lngs AS float8[]),"
    " CAST(:accuracies AS float8[]), CAST(:times AS timestamptz[]))),"
    " moved AS ("
    " UPDATE technician SET lat = :lat, lng = :lng, h3_cell = :cell, h3_parent = :parent, position_at = :at"
    " WHERE id = :tech_id AND (position_at IS NULL OR position_at < :at)"
    " RETURNING id, status, active, lat, lng, capabilities, position_at)"  # INDEXED_COLUMNS
    " SELECT moved.*, (SELECT r.id FROM service_request r WHERE r.technician_id = :tech_id"
    f" AND r.status IN ({sql_list(ACTIVE)})) AS job_id"
    # A position is committed without waiting for its WAL flush (this transaction only): a database
    # crash may lose the last fraction of a second of positions, which the next ping, 10 s later,
    # replaces; requests, jobs and their timelines still wait for the flush. Saves ~200 fsyncs a
    # second under load, which every other commit queued behind.
    " FROM (SELECT set_config('synchronous_commit', 'off', true)) AS one LEFT JOIN moved ON true"
), _PositionsRow)


@dataclass(frozen=True)
class PositionsRecorded:
    accepted: int
    job_id: int | None  # the technician's active job (offered or under way), if any


def record_positions(core: Core, tech_id: int, positions: list[PositionIn]) -> PositionsRecorded:
    """Store a batch of positions; the newest becomes current unless the stored one is newer."""
    if not positions:
        job = _current_job(core, tech_id)
        return PositionsRecorded(0, job.id if job else None)
    positions = sorted(positions, key=lambda p: p.recorded_at)
    newest = positions[-1]
    cell = h3.latlng_to_cell(newest.lat, newest.lng, core.settings.h3_resolution)
    parent = h3.cell_to_parent(cell, core.settings.h3_coarse_resolution)
    with autocommit(core.engine).connect() as c:
        row = _RECORD_POSITIONS(c, {
            "tech_id": tech_id, "lats": [p.lat for p in positions], "lngs": [p.lng for p in positions],
            "accuracies": [p.accuracy_m for p in positions], "times": [p.recorded_at for p in positions],
            "lat": newest.lat, "lng": newest.lng, "cell": cell, "parent": parent, "at": newest.recorded_at,
        }).fetchone()
    if row is None:  # the statement always returns its one row
        raise RuntimeError("recording positions returned no row")
    if row.id is not None:
        index_row(core, IndexedRow._make(row[:7]))
        core.bus.publish(DomainEvent("technician_moved", technician_id=tech_id,
                                     data={"lat": newest.lat, "lng": newest.lng}))
        if row.status == TechStatus.EN_ROUTE and row.job_id is not None:  # "about 5 minutes away", once
            note_position(core, tech_id, row.job_id, newest.lat, newest.lng, newest.recorded_at)
    return PositionsRecorded(len(positions), row.job_id)


def _current_job(core: Core, tech_id: int) -> ServiceRequest | None:
    with Session(core.engine) as s:
        return s.exec(
            select(ServiceRequest)
            .where(ServiceRequest.technician_id == tech_id, col(ServiceRequest.status).in_(ACTIVE))
        ).first()


_ACTIONS: dict[str, tuple[RequestStatus, TechStatus | None, str]] = {
    "accept": (RequestStatus.ASSIGNED, None, "accepted"),
    "en-route": (RequestStatus.EN_ROUTE, TechStatus.EN_ROUTE, "en_route"),
    "arrived": (RequestStatus.ON_SITE, TechStatus.ON_SITE, "on_site"),
    "complete": (RequestStatus.COMPLETED, TechStatus.AVAILABLE, "completed"),
    "decline": (RequestStatus.PENDING, TechStatus.AVAILABLE, "declined"),
}
_STAMP = {"accepted": "accepted_at", "en_route": "en_route_at", "on_site": "on_site_at",  # event kind -> column
          "completed": "completed_at"}


class _JobRow(NamedTuple):
    """What the job view shows of a request, then the technician's position: read by job_view and
    returned by each job step."""

    id: int
    reference: str
    status: str
    accepted_at: datetime | None
    assigned_at: datetime | None
    customer_name: str
    phone_enc: str
    issue: str
    vehicle: str
    vehicle_reg: str | None
    vehicle_type: str
    tyre_size: str | None
    on_motorway: bool
    vulnerable: bool
    notes: str
    location_label: str
    location_approximate: bool
    postcode: str | None
    lat: float
    lng: float
    tech_lat: float | None
    tech_lng: float | None


_VIEW_FIELDS = _JobRow._fields[:-2]  # the request's columns


class _StepRow(NamedTuple):
    """A job step's answer: the statuses found and the technician as locked, then the request as the
    step left it (`_VIEW_FIELDS`, all None when the step was refused)."""

    r_status: str
    t_status: str
    t_id: int
    t_active: bool
    tech_lat: float | None
    tech_lng: float | None
    t_capabilities: list[str]
    t_position_at: datetime | None
    id: int | None
    reference: str | None
    status: str | None
    accepted_at: datetime | None
    assigned_at: datetime | None
    customer_name: str | None
    phone_enc: str | None
    issue: str | None
    vehicle: str | None
    vehicle_reg: str | None
    vehicle_type: str | None
    tyre_size: str | None
    on_motorway: bool | None
    vulnerable: bool | None
    notes: str | None
    location_label: str | None
    location_approximate: bool | None
    postcode: str | None
    lat: float | None
    lng: float | None


_EVENT_DATA = table_of(RequestEvent).c.data.type


def _step_statement(action: str) -> sa.TextClause:
    """One job step as one statement: lock the job and its technician, and only if both state machines
    allow the step, update both rows and add the timeline entry. The statuses a step may start from
    are read off `core.states`, so the rules live there alone. Returns one row (none when the job is
    not the technician's): the statuses found, the indexed columns of the technician (as locked), and
    the request as the step left it (NULLs when the step was refused)."""
    new_req, new_tech, kind = _ACTIONS[action]
    req_from = [RequestStatus.ASSIGNED] if action == "accept" else [
        s for s in ACTIVE if new_req in REQUEST_TRANSITIONS[s]]
    sets = [f"status = '{new_req.value}'", "version = r.version + 1"]
    if kind in _STAMP:
        sets.append(f"{_STAMP[kind]} = :now")
    if action == "en-route":
        sets.append("accepted_at = COALESCE(r.accepted_at, :now)")  # going en route accepts the job
    if action == "decline":
        sets += ["technician_id = NULL", "assigned_at = NULL", "accepted_at = NULL", "eta_minutes = NULL"]
    allowed = f"j.r_status IN ({sql_list(req_from)})"
    tech_update = ""
    if new_tech is not None:
        tech_from = [t for t in TechStatus if new_tech in TECH_TRANSITIONS[t]]
        allowed += f" AND j.t_status IN ({sql_list(tech_from)})"
        tech_update = (f" tu AS (UPDATE technician AS t SET status = '{new_tech.value}', version = t.version + 1"
                       " FROM ok WHERE t.id = :tid),")
    return sa.text(
        "WITH j AS (SELECT r.id AS rid, r.status AS r_status, t.status AS t_status, t.name AS t_name,"
        " t.id AS t_id, t.active AS t_active, t.lat AS tech_lat, t.lng AS tech_lng,"
        " t.capabilities AS t_capabilities, t.position_at AS t_position_at"
        " FROM service_request r JOIN technician t ON t.id = r.technician_id"
        " WHERE r.id = :rid AND r.technician_id = :tid FOR UPDATE OF r, t),"
        f" ok AS (SELECT j.rid FROM j WHERE {allowed}),"
        + tech_update +
        f" ru AS (UPDATE service_request AS r SET {', '.join(sets)} FROM ok WHERE r.id = ok.rid"
        " RETURNING " + ", ".join(f"r.{f}" for f in _VIEW_FIELDS) + "),"
        " ev AS (INSERT INTO request_event (request_id, at, kind, actor, actor_id, actor_role, data)"
        f" SELECT ru.id, :now, '{kind}', :actor, CAST(:actor_id AS integer), :actor_role, :data FROM ru)"
        " SELECT j.r_status, j.t_status, j.t_id, j.t_active, j.tech_lat, j.tech_lng, j.t_capabilities,"
        " j.t_position_at, " + ", ".join(f"ru.{f}" for f in _VIEW_FIELDS)
        + " FROM j LEFT JOIN ru ON true"
    ).bindparams(sa.bindparam("data", type_=_EVENT_DATA))


_STEPS = {action: HotStatement(_step_statement(action), _StepRow) for action in _ACTIONS}


def job_action(core: Core, who: Principal, request_id: int, action: str, data: dict[str, Any] | None = None, *,
               tech_id: int | None = None) -> str:
    """One step of the job: accept, en-route, arrived, complete, decline. Only on the technician's own job
    (`who`'s, or for the system the technician `tech_id`).

    Returns the request's new status."""
    return _step(core, who, acting_for(who, tech_id), request_id, action, data)[0]


def job_step(core: Core, who: Principal, request_id: int, action: str, data: dict[str, Any] | None = None, *,
             tech_id: int | None = None) -> JobView | None:
    """`job_action`, answered with the technician's job as it now stands (what the phone shows next)."""
    tech_id = acting_for(who, tech_id)
    status, row = _step(core, who, tech_id, request_id, action, data)
    if status in ACTIVE and row is not None:
        return _view(core, row)  # the job as the step's own statement returned it
    return _job_view(core, tech_id)  # completed or declined: whatever the technician holds now


def _step(core: Core, who: Principal, tech_id: int, request_id: int, action: str,
          data: dict[str, Any] | None) -> tuple[str, _JobRow | None]:
    """The request's status after the step, and the job's row (None for a replayed step)."""
    if action not in _ACTIONS:
        raise NotFound(f"unknown action '{action}'")
    new_req, new_tech, _kind = _ACTIONS[action]
    with autocommit(core.engine).connect() as c:  # one statement: atomic by itself
        row = _STEPS[action](c, {"rid": request_id, "tid": tech_id, "now": utcnow(), **who.actor_columns(),
                                 "data": {"technician_id": tech_id, **(data or {})}}).fetchone()
    if row is not None and row.id is None and _already_done(action, row.r_status):
        return row.r_status, None  # a replayed step (a phone retrying after losing the answer): done, not an error
    if row is None or row.r_status not in ACTIVE:
        raise NotFound("This job is not yours, or it is no longer active.")
    if row.id is None:  # refused: say which rule
        if action == "accept" and row.r_status != RequestStatus.ASSIGNED:
            raise IllegalTransition("this job was already accepted")
        request_transition(row.r_status, new_req)
        if new_tech is not None:
            tech_transition(row.t_status, new_tech)
        raise IllegalTransition("this step does not apply to the job as it stands")
    core.bus.publish(DomainEvent("request_status_changed", request_id=request_id, technician_id=tech_id,
                                 data={"status": new_req.value, "action": action}))
    if action in ("complete", "decline"):
        after_release(core, request_id if action == "decline" else None, tech_id)
    else:  # the technician's row as the statement left it (locked, so nobody else changed it)
        index_row(core, IndexedRow(row.t_id, new_tech.value if new_tech else row.t_status, row.t_active,
                                   row.tech_lat, row.tech_lng, row.t_capabilities, row.t_position_at))
    # The request as the step left it (not None: the step was not refused), as job_view reads it.
    return new_req.value, _JobRow._make((*row[8:], row.tech_lat, row.tech_lng))


def _already_done(action: str, status: str) -> bool:
    """Whether the job already stands where `action` would take it (accepting counts as done once the job
    is under way)."""
    if action == "accept":
        return status in ACTIVE
    return action != "decline" and status == _ACTIONS[action][0]


# The technician's active job and their own position, in one statement: phones ask for it all the time.
_JOB_COLUMNS = (
    *(table_of(ServiceRequest).c[f] for f in _VIEW_FIELDS),
    col(Technician.lat).label("tech_lat"), col(Technician.lng).label("tech_lng"),
)
_JOB_VIEW = HotStatement(
    sa.select(*_JOB_COLUMNS)
    .outerjoin(Technician, col(Technician.id) == ServiceRequest.technician_id)
    .where(col(ServiceRequest.technician_id) == sa.bindparam("tech_id"), col(ServiceRequest.status).in_(ACTIVE))
    .limit(1),
    _JobRow,
)


@dataclass(frozen=True)
class ShiftView:
    """What the technician's phone shows about their shift."""

    status: str
    position_at: datetime | None


def shift_view(core: Core, who: Principal, *, tech_id: int | None = None) -> ShiftView:
    """The technician's own shift status and when their last position arrived."""
    tid = acting_for(who, tech_id)
    with autocommit(core.engine).connect() as c:
        row = c.execute(sa.select(col(Technician.status), col(Technician.position_at))
                        .where(col(Technician.id) == tid)).first()
    if row is None:
        raise NotFound("no such technician")
    return ShiftView(row.status, row.position_at)


def job_view(core: Core, who: Principal, *, tech_id: int | None = None) -> JobView | None:
    """The technician's active job with what they need on the road: where, who, what, how to get there."""
    return _job_view(core, acting_for(who, tech_id))


def _job_view(core: Core, tech_id: int) -> JobView | None:
    with autocommit(core.engine).connect() as c:
        req = _JOB_VIEW(c, {"tech_id": tech_id}).fetchone()
    return None if req is None else _view(core, req)


def _view(core: Core, req: _JobRow) -> JobView:
    distance = eta = None
    if req.tech_lat is not None and req.tech_lng is not None:
        distance = round(haversine_km(req.tech_lat, req.tech_lng, req.lat, req.lng), 1)
        eta = round(core.eta.eta_minutes(req.tech_lat, req.tech_lng, req.lat, req.lng))
    expires = None
    if req.status == RequestStatus.ASSIGNED and req.accepted_at is None and req.assigned_at is not None:
        expires = (req.assigned_at + timedelta(seconds=core.settings.offer_timeout_s)).isoformat()
    return JobView(
        id=req.id, reference=req.reference, status=req.status, accepted=req.accepted_at is not None,
        customer_first_name=req.customer_name.split()[0] if req.customer_name.split() else req.customer_name,
        customer_phone=core.vault.decrypt(req.phone_enc), issue=ISSUE_LABELS[Issue(req.issue)], vehicle=req.vehicle,
        vehicle_reg=req.vehicle_reg, vehicle_type=req.vehicle_type, tyre_size=req.tyre_size,
        on_motorway=req.on_motorway, vulnerable=req.vulnerable, notes=req.notes, location_label=req.location_label,
        location_approximate=req.location_approximate, postcode=req.postcode, lat=req.lat, lng=req.lng,
        distance_km=distance,
        eta_minutes=eta, navigate_url=f"https://www.google.com/maps/dir/?api=1&destination={req.lat:.6f},{req.lng:.6f}",
        offer_expires_at=expires,
    )


def expire_unanswered_offers(core: Core) -> int:
    """Offers not accepted in time are declined for the technician, and the job goes to the next one."""
    cutoff = utcnow() - timedelta(seconds=core.settings.offer_timeout_s)
    with Session(core.engine) as s:
        stale = s.exec(
            select(ServiceRequest.id, ServiceRequest.technician_id).where(
                ServiceRequest.status == RequestStatus.ASSIGNED, col(ServiceRequest.accepted_at).is_(None),
                col(ServiceRequest.assigned_at) < cutoff)
        ).all()
    n = 0
    for rid, tid in stale:
        if rid is None or tid is None:
            continue
        try:
            job_action(core, OFFER_TIMEOUT, rid, "decline", tech_id=tid)
            n += 1
        except (NotFound, IllegalTransition):
            pass  # answered or reassigned meanwhile
    return n
