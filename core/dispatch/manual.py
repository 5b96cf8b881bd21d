"""Manual dispatch by a dispatcher: assign, reassign, unassign, cancel, note.

Every action checks the acting principal's role before it reads anything, and is recorded on the
request's timeline with the account's name, id and role."""

from __future__ import annotations

import sqlalchemy as sa
from sqlmodel import col, select

from core.context import Core
from core.dispatch.auto import after_release, claim, resync_technician
from core.errors import Conflict, NotFound, ValidationFailed
from core.infra.db import session_scope
from core.infra.events import DomainEvent
from core.infra.rows import rowcount
from core.models import RequestEvent, ServiceRequest, Technician, utcnow
from core.principal import Principal, Role
from core.requests.tracking import cancel_in_session
from core.states import CANCELLABLE, RequestStatus, TechStatus

MOVABLE = (RequestStatus.ASSIGNED, RequestStatus.EN_ROUTE)
DISPATCH_ROLES = (Role.DISPATCHER, Role.ADMIN)


def assign(core: Core, who: Principal, request_id: int, tech_id: int, from_technician_id: int | None = None) -> None:
    """Give a waiting request to a technician, or move an assigned one to another technician.

    `from_technician_id` is who the dispatcher saw on the job: if someone else changed it meanwhile,
    the action is refused with a conflict instead of overwriting their decision.
    """
    who.require(*DISPATCH_ROLES)
    with session_scope(core.engine) as s:
        req = s.exec(select(ServiceRequest).where(ServiceRequest.id == request_id)).first()
        tech = s.get(Technician, tech_id)
    if req is None:
        raise NotFound("no such request")
    if tech is None or not tech.active:
        raise NotFound("no such technician")
    if req.technician_id != from_technician_id:
        raise Conflict(f"{req.reference} was changed by someone else a moment ago: check it and try again.")
    if req.status == RequestStatus.PENDING:
        eta = _eta(core, tech, req)
        if not claim(core, request_id, tech_id, eta, who=who):
            raise Conflict(f"{tech.name} is no longer available, or {req.reference} was just assigned.")
        return
    if req.status not in MOVABLE:
        raise Conflict(f"{req.reference} is {req.status.replace('_', ' ')}: it can no longer be reassigned.")
    _reassign(core, req, tech, who)


def _eta(core: Core, tech: Technician, req: ServiceRequest) -> int | None:
    if tech.lat is None or tech.lng is None:
        return None
    return round(core.eta.eta_minutes(tech.lat, tech.lng, req.lat, req.lng))


def _reassign(core: Core, req: ServiceRequest, tech: Technician, who: Principal) -> None:
    assert req.id is not None and tech.id is not None  # both rows were read from the database
    old_tech = req.technician_id
    now = utcnow()
    with session_scope(core.engine) as s:
        moved = rowcount(s.execute(
            sa.update(ServiceRequest)
            .where(col(ServiceRequest.id) == req.id, col(ServiceRequest.status).in_(MOVABLE),
                   col(ServiceRequest.technician_id) == old_tech)
            .values(status=RequestStatus.ASSIGNED.value, technician_id=tech.id, assigned_at=now, accepted_at=None,
                    en_route_at=None, eta_minutes=_eta(core, tech, req), version=ServiceRequest.version + 1)
        ))
        took = rowcount(s.execute(
            sa.update(Technician).where(col(Technician.id) == tech.id, col(Technician.status) == TechStatus.AVAILABLE)
            .values(status=TechStatus.ASSIGNED.value, version=Technician.version + 1)
        ))
        if moved != 1 or took != 1:
            s.rollback()
            raise Conflict(f"{tech.name} is no longer available, or {req.reference} just changed.")
        s.execute(sa.update(Technician).where(col(Technician.id) == old_tech)
                  .values(status=TechStatus.AVAILABLE.value, version=Technician.version + 1))
        s.add(RequestEvent(request_id=req.id, kind="unassigned", **who.actor_columns(),
                           data={"technician_id": old_tech}))
        s.add(RequestEvent(request_id=req.id, kind="assigned", **who.actor_columns(),
                           data={"technician_id": tech.id, "technician": tech.name, "reassigned": True}))
    resync_technician(core, tech.id)
    core.bus.publish(DomainEvent("technician_assigned", request_id=req.id, technician_id=tech.id,
                                 data={"actor": who.name}))
    after_release(core, None, old_tech)


def unassign(core: Core, who: Principal, request_id: int) -> None:
    """Take a request off its technician: it waits again, and that technician is not offered it again."""
    who.require(*DISPATCH_ROLES)
    with session_scope(core.engine) as s:
        req = s.exec(select(ServiceRequest).where(ServiceRequest.id == request_id).with_for_update()).first()
        if req is None:
            raise NotFound("no such request")
        if req.status not in MOVABLE:
            raise Conflict(f"{req.reference} is {req.status.replace('_', ' ')}: there is nobody to take off it.")
        old = req.technician_id
        req.status, req.technician_id, req.assigned_at, req.accepted_at, req.eta_minutes = (
            RequestStatus.PENDING.value, None, None, None, None)
        req.version += 1
        s.add(req)
        s.execute(sa.update(Technician).where(col(Technician.id) == old)
                  .values(status=TechStatus.AVAILABLE.value, version=Technician.version + 1))
        s.add(RequestEvent(request_id=request_id, kind="unassigned", **who.actor_columns(),
                           data={"technician_id": old}))
    after_release(core, request_id, old)


def cancel(core: Core, who: Principal, request_id: int, reason: str) -> None:
    who.require(*DISPATCH_ROLES)
    reason = (reason or "").strip()
    if not reason:
        raise ValidationFailed({"reason": "Say why the request is cancelled."})
    with session_scope(core.engine) as s:
        req = s.exec(select(ServiceRequest).where(ServiceRequest.id == request_id).with_for_update()).first()
        if req is None:
            raise NotFound("no such request")
        if req.status not in CANCELLABLE:
            raise Conflict(f"{req.reference} is {req.status.replace('_', ' ')}: it cannot be cancelled.")
        cancel_in_session(s, req, reason, **who.actor_columns())
    after_release(core, request_id, None)


def add_note(core: Core, who: Principal, request_id: int, text: str) -> None:
    who.require(*DISPATCH_ROLES)
    text = (text or "").strip()
    if not text or len(text) > 500:
        raise ValidationFailed({"text": "A note is 1-500 characters."})
    with session_scope(core.engine) as s:
        if s.get(ServiceRequest, request_id) is None:
            raise NotFound("no such request")
        s.add(RequestEvent(request_id=request_id, kind="note", **who.actor_columns(), data={"text": text}))
    core.bus.publish(DomainEvent("request_noted", request_id=request_id))

