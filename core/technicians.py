"""The technician service: shift status, positions, and the job workflow."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

import h3
import sqlalchemy as sa
from sqlmodel import Session, col, select

from core.bootstrap import Core
from core.db import autocommit, session_scope
from core.dispatch import after_release, index_row, resync_technician
from core.errors import IllegalTransition, NotFound
from core.events import DomainEvent
from core.geo import haversine_km
from core.models import RequestEvent, ServiceRequest, Technician, utcnow
from core.priority import ISSUE_LABELS, Issue
from core.schemas import JobView
from core.states import RequestStatus, TechStatus, request_transition, tech_transition

ACTIVE = ("assigned", "en_route", "on_site")


@dataclass(frozen=True)
class PositionIn:
    lat: float
    lng: float
    recorded_at: datetime
    accuracy_m: float | None = None


def set_shift_status(core: Core, tech_id: int, status: TechStatus, actor: str = "technician") -> Technician:
    """available / break / offline, as the technician toggles them."""
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
_RECORD_POSITIONS = sa.text(
    "WITH history AS ("
    " INSERT INTO location_ping (technician_id, lat, lng, accuracy_m, recorded_at)"
    " SELECT :tech_id, * FROM unnest(CAST(:lats AS float8[]), CAST(:lngs AS float8[]),"
    " CAST(:accuracies AS float8[]), CAST(:times AS timestamptz[]))),"
    " moved AS ("
    " UPDATE technician SET lat = :lat, lng = :lng, h3_cell = :cell, h3_parent = :parent, position_at = :at"
    " WHERE id = :tech_id AND (position_at IS NULL OR position_at < :at)"
    " RETURNING id, status, active, lat, lng, capabilities, position_at)"  # INDEXED_COLUMNS
    " SELECT moved.*, (SELECT r.id FROM service_request r WHERE r.technician_id = :tech_id"
    " AND r.status IN ('assigned', 'en_route', 'on_site')) AS job_id"
    " FROM (SELECT 1) AS one LEFT JOIN moved ON true"
)


@dataclass(frozen=True)
class PositionsRecorded:
    accepted: int
    job_id: int | None  # the technician's active job (offered or under way), if any


def record_positions(core: Core, tech_id: int, positions: list[PositionIn]) -> PositionsRecorded:
    """Store a batch of positions; the newest becomes current unless the stored one is newer."""
    if not positions:
        job = current_job(core, tech_id)
        return PositionsRecorded(0, job.id if job else None)
    positions = sorted(positions, key=lambda p: p.recorded_at)
    newest = positions[-1]
    cell = h3.latlng_to_cell(newest.lat, newest.lng, core.settings.h3_resolution)
    parent = h3.cell_to_parent(cell, core.settings.h3_coarse_resolution)
    with autocommit(core.engine).connect() as c:
        row = c.execute(_RECORD_POSITIONS, {
            "tech_id": tech_id, "lats": [p.lat for p in positions], "lngs": [p.lng for p in positions],
            "accuracies": [p.accuracy_m for p in positions], "times": [p.recorded_at for p in positions],
            "lat": newest.lat, "lng": newest.lng, "cell": cell, "parent": parent, "at": newest.recorded_at,
        }).one()
    if row.id is not None:
        index_row(core, row[:7])
        core.bus.publish(DomainEvent("technician_moved", technician_id=tech_id,
                                     data={"lat": newest.lat, "lng": newest.lng}))
    return PositionsRecorded(len(positions), row.job_id)


def current_job(core: Core, tech_id: int) -> ServiceRequest | None:
    with Session(core.engine) as s:
        return s.exec(
            select(ServiceRequest).where(ServiceRequest.technician_id == tech_id, col(ServiceRequest.status).in_(ACTIVE))
        ).first()


_ACTIONS: dict[str, tuple[RequestStatus, TechStatus | None, str]] = {
    "accept": (RequestStatus.ASSIGNED, None, "accepted"),
    "en-route": (RequestStatus.EN_ROUTE, TechStatus.EN_ROUTE, "en_route"),
    "arrived": (RequestStatus.ON_SITE, TechStatus.ON_SITE, "on_site"),
    "complete": (RequestStatus.COMPLETED, TechStatus.AVAILABLE, "completed"),
    "decline": (RequestStatus.PENDING, TechStatus.AVAILABLE, "declined"),
}
_STAMP = {"accepted": "accepted_at", "en_route": "en_route_at", "on_site": "on_site_at", "completed": "completed_at"}


# The job and its technician, both rows locked, in one statement; the technician's columns are what
# the index holds of them (INDEXED_COLUMNS).
_LOCK_JOB = (
    select(ServiceRequest.status, ServiceRequest.accepted_at, Technician.name, Technician.id, Technician.status,
           Technician.active, Technician.lat, Technician.lng, Technician.capabilities, Technician.position_at)
    .join(Technician, col(Technician.id) == ServiceRequest.technician_id)
    .where(col(ServiceRequest.id) == sa.bindparam("rid"), col(ServiceRequest.technician_id) == sa.bindparam("tid"))
    .with_for_update()
)


def job_action(core: Core, tech_id: int, request_id: int, action: str, actor: str | None = None,
               data: dict | None = None) -> str:
    """One step of the job: accept, en-route, arrived, complete, decline. Only on the technician's own job.

    One transaction: lock the job and its technician, check both state machines, then the request's
    update, the technician's and the timeline entry. Returns the request's new status."""
    if action not in _ACTIONS:
        raise NotFound(f"unknown action '{action}'")
    new_req, new_tech, kind = _ACTIONS[action]
    with core.engine.begin() as c:
        row = c.execute(_LOCK_JOB, {"rid": request_id, "tid": tech_id}).first()
        if row is None or row[0] not in ACTIVE:
            raise NotFound("This job is not yours, or it is no longer active.")
        req_status, accepted_at, tech_name, *indexed = row
        if action == "accept" and req_status != "assigned":
            raise IllegalTransition("this job was already accepted")
        request_transition(req_status, new_req)
        now = utcnow()
        values: dict = {"status": new_req.value, "version": ServiceRequest.version + 1}
        if kind in _STAMP:
            values[_STAMP[kind]] = now
        if action == "en-route" and accepted_at is None:
            values["accepted_at"] = now  # going en route accepts the job
        if action == "decline":
            values.update(technician_id=None, assigned_at=None, accepted_at=None, eta_minutes=None)
        if new_tech is not None:
            tech_transition(indexed[1], new_tech)
            c.execute(sa.update(Technician).where(col(Technician.id) == tech_id)
                      .values(status=new_tech.value, version=Technician.version + 1))
            indexed[1] = new_tech.value  # the row as this transaction leaves it (locked)
        c.execute(sa.update(ServiceRequest).where(col(ServiceRequest.id) == request_id).values(**values))
        c.execute(sa.insert(RequestEvent).values(request_id=request_id, at=now, kind=kind, actor=actor or tech_name,
                                                 data={"technician_id": tech_id, **(data or {})}))
    core.bus.publish(DomainEvent("request_status_changed", request_id=request_id, technician_id=tech_id,
                                 data={"status": new_req.value, "action": action}))
    if action in ("complete", "decline"):
        after_release(core, request_id if action == "decline" else None, tech_id)
    else:
        index_row(core, tuple(indexed))  # type: ignore[arg-type]
    return new_req.value


# The technician's active job and their own position, in one statement: phones ask for it all the time.
_JOB_COLUMNS = (
    ServiceRequest.id, ServiceRequest.reference, ServiceRequest.status, ServiceRequest.accepted_at,
    ServiceRequest.assigned_at, ServiceRequest.customer_name, ServiceRequest.phone_enc, ServiceRequest.issue,
    ServiceRequest.vehicle, ServiceRequest.vehicle_reg, ServiceRequest.vehicle_type, ServiceRequest.tyre_size,
    ServiceRequest.on_motorway, ServiceRequest.vulnerable, ServiceRequest.notes, ServiceRequest.location_label,
    ServiceRequest.location_approximate, ServiceRequest.lat, ServiceRequest.lng,
    Technician.lat.label("tech_lat"), Technician.lng.label("tech_lng"),  # type: ignore[union-attr]
)
_JOB_VIEW = (
    select(*_JOB_COLUMNS)
    .outerjoin(Technician, col(Technician.id) == ServiceRequest.technician_id)
    .where(col(ServiceRequest.technician_id) == sa.bindparam("tech_id"), col(ServiceRequest.status).in_(ACTIVE))
    .limit(1)
)


def job_view(core: Core, tech_id: int) -> JobView | None:
    """The technician's active job with what they need on the road: where, who, what, how to get there."""
    with autocommit(core.engine).connect() as c:
        req = c.execute(_JOB_VIEW, {"tech_id": tech_id}).first()
    if req is None:
        return None
    distance = eta = None
    if req.tech_lat is not None and req.tech_lng is not None:
        distance = round(haversine_km(req.tech_lat, req.tech_lng, req.lat, req.lng), 1)
        eta = round(core.eta.eta_minutes(req.tech_lat, req.tech_lng, req.lat, req.lng))
    expires = None
    if req.status == "assigned" and req.accepted_at is None and req.assigned_at is not None:
        expires = (req.assigned_at + timedelta(seconds=core.settings.offer_timeout_s)).isoformat()
    return JobView(
        id=req.id, reference=req.reference, status=req.status, accepted=req.accepted_at is not None,
        customer_first_name=req.customer_name.split()[0] if req.customer_name.split() else req.customer_name,
        customer_phone=core.vault.decrypt(req.phone_enc), issue=ISSUE_LABELS[Issue(req.issue)], vehicle=req.vehicle,
        vehicle_reg=req.vehicle_reg, vehicle_type=req.vehicle_type, tyre_size=req.tyre_size,
        on_motorway=req.on_motorway, vulnerable=req.vulnerable, notes=req.notes, location_label=req.location_label,
        location_approximate=req.location_approximate, lat=req.lat, lng=req.lng, distance_km=distance,
        eta_minutes=eta, navigate_url=f"https://www.google.com/maps/dir/?api=1&destination={req.lat:.6f},{req.lng:.6f}",
        offer_expires_at=expires,
    )


def expire_unanswered_offers(core: Core) -> int:
    """Offers not accepted in time are declined for the technician, and the job goes to the next one."""
    cutoff = utcnow() - timedelta(seconds=core.settings.offer_timeout_s)
    with Session(core.engine) as s:
        stale = s.exec(
            select(ServiceRequest.id, ServiceRequest.technician_id).where(
                ServiceRequest.status == "assigned", col(ServiceRequest.accepted_at).is_(None),
                col(ServiceRequest.assigned_at) < cutoff)
        ).all()
    n = 0
    for rid, tid in stale:
        try:
            job_action(core, tid, rid, "decline", actor="no answer in time")  # type: ignore[arg-type]
            n += 1
        except (NotFound, IllegalTransition):
            pass  # answered or reassigned meanwhile
    return n
