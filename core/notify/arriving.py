""""About 5 minutes away": a timeline entry `arriving`, written once per job when an en-route van's ETA
drops to ARRIVING_MINUTES; the outbox trigger turns it into the customer's text.

Once: a unique index on (request, technician) for this kind (migration 0009) makes a second insert a
no-op, whichever process hears the ping."""

from __future__ import annotations

from datetime import datetime
from types import SimpleNamespace

import sqlalchemy as sa

from core.context import Core
from core.infra.db import HotStatement, autocommit
from core.models import RequestEvent
from core.requests.tracking import remaining_eta

# The job, if it is en route with this technician and has no `arriving` entry for them yet.
_JOB = HotStatement(sa.text(
    "SELECT r.lat, r.lng, r.eta_minutes, r.assigned_at FROM service_request r"
    " WHERE r.id = :rid AND r.technician_id = :tid AND r.status = 'en_route'"
    " AND NOT EXISTS (SELECT 1 FROM request_event e WHERE e.request_id = r.id AND e.kind = 'arriving'"
    " AND e.data->>'technician_id' = CAST(:tid AS text))"))
_ARRIVING = HotStatement(sa.text(
    "INSERT INTO request_event (request_id, at, kind, actor, actor_role, data)"
    " VALUES (:rid, :at, 'arriving', 'system', 'system', :data) ON CONFLICT DO NOTHING"
).bindparams(sa.bindparam("data", type_=RequestEvent.__table__.c.data.type)))  # type: ignore[attr-defined]


def note_position(core: Core, tech_id: int, job_id: int, lat: float, lng: float, at: datetime) -> bool:
    """After an en-route technician's position report: write `arriving` if the van is now close enough.
    True when this call wrote it."""
    with autocommit(core.engine).connect() as c:
        job = _JOB(c, {"rid": job_id, "tid": tech_id}).fetchone()
        if job is None:
            return False
        job_lat, job_lng, eta_minutes, assigned_at = job
        req = SimpleNamespace(status="en_route", lat=job_lat, lng=job_lng, eta_minutes=eta_minutes,
                              assigned_at=assigned_at)
        eta = remaining_eta(core, req, SimpleNamespace(lat=lat, lng=lng), at)
        if eta is None or eta > core.settings.arriving_minutes:
            return False
        done = _ARRIVING(c, {"rid": job_id, "at": at, "data": {"technician_id": tech_id, "eta_minutes": eta}})
        return bool(done.rowcount)
