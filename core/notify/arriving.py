""""About 5 minutes away": a timeline entry `arriving`, written once per job when an en-route van's ETA
drops to ARRIVING_MINUTES; the outbox trigger turns it into the customer's text.

Once: a unique index on (request, technician) for this kind (migration 0009) makes a second insert a
no-op, whichever process hears the ping."""

from __future__ import annotations

from datetime import datetime

import sqlalchemy as sa
from sqlalchemy.dialects.postgresql import JSONB

from core.context import Core
from core.infra.db import autocommit
from core.infra.rows import rowcount

# The job, if it is en route with this technician and has no `arriving` entry for them yet.
_JOB = sa.text(
    "SELECT r.lat, r.lng FROM service_request r"
    " WHERE r.id = :rid AND r.technician_id = :tid AND r.status = 'en_route'"
    " AND NOT EXISTS (SELECT 1 FROM request_event e WHERE e.request_id = r.id AND e.kind = 'arriving'"
    " AND e.data->>'technician_id' = CAST(:tid AS text))")
_ARRIVING = sa.text(
    "INSERT INTO request_event (request_id, at, kind, actor, actor_role, data)"
    " VALUES (:rid, :at, 'arriving', 'system', 'system', :data) ON CONFLICT DO NOTHING"
).bindparams(sa.bindparam("data", type_=JSONB))


def en_route_minutes(core: Core, van_lat: float, van_lng: float, lat: float, lng: float) -> int:
    """Minutes until a van already on its way arrives, as the tracking page counts them
    (core.requests.tracking.remaining_eta): the ETA model less its mobilisation time, at least 1."""
    minutes = core.eta.eta_minutes(van_lat, van_lng, lat, lng) - getattr(core.eta, "mobilisation_min", 0.0)
    return max(1, round(minutes))


def note_position(core: Core, tech_id: int, job_id: int, lat: float, lng: float, at: datetime) -> bool:
    """After an en-route technician's position report: write `arriving` if the van is now close enough.
    True when this call wrote it."""
    with autocommit(core.engine).connect() as c:
        job = c.execute(_JOB, {"rid": job_id, "tid": tech_id}).first()
        if job is None:
            return False
        eta = en_route_minutes(core, lat, lng, job.lat, job.lng)
        if eta > core.settings.arriving_minutes:
            return False
        done = c.execute(_ARRIVING, {"rid": job_id, "at": at, "data": {"technician_id": tech_id, "eta_minutes": eta}})
        return rowcount(done) == 1
