"""What the submitter of a request is answered with (RequestPublic), and the tracking link's token."""

from __future__ import annotations

import base64
import hashlib
import hmac
import uuid
from typing import Any

import sqlalchemy as sa
from sqlmodel import col

from core.context import Core
from core.errors import NotFound
from core.infra.db import autocommit
from core.models import ServiceRequest, Technician
from core.schemas import RequestPublic, TechnicianPublic

# What the submitter is answered with, read in one statement; built once, as they run per request.
PUBLIC_COLUMNS = (
    ServiceRequest.id, ServiceRequest.public_id, ServiceRequest.reference, ServiceRequest.status,
    ServiceRequest.priority, ServiceRequest.quote_pence, ServiceRequest.eta_minutes, ServiceRequest.location_label,
    ServiceRequest.location_approximate, ServiceRequest.postcode,
)
_PUBLIC_VIEW = (
    sa.select(*(col(c) for c in PUBLIC_COLUMNS),
              col(Technician.name).label("tech_name"),
              col(Technician.van_label).label("tech_van_label"),
              col(Technician.van_reg).label("tech_van_reg"))
    .outerjoin(Technician, col(Technician.id) == ServiceRequest.technician_id)
    .where(col(ServiceRequest.id) == sa.bindparam("request_id"))
)


def tracking_token(core: Core, public_id: uuid.UUID) -> str:
    """Unguessable without the server's secret; derivable, so a retried submission gets it again."""
    mac = hmac.new(core.settings.secret_key.encode(), b"track:" + public_id.bytes, hashlib.sha256).digest()
    return base64.urlsafe_b64encode(public_id.bytes + mac[:12]).decode().rstrip("=")


def first_name(name: str) -> str:
    return name.split()[0] if name.split() else name


def public_view(core: Core, request_id: int, duplicate: bool = False) -> RequestPublic:
    """The answer read back from the database (the request and its technician)."""
    with autocommit(core.engine).connect() as c:
        row = c.execute(_PUBLIC_VIEW, {"request_id": request_id}).first()
    if row is None:
        raise NotFound("no such request")
    return public_answer(core, row, row, duplicate)


def public_answer(core: Core, req: Any, tech: Any, duplicate: bool) -> RequestPublic:
    """From rows or models: `req` with PUBLIC_COLUMNS, `tech` with tech_name / tech_van_label / tech_van_reg or None."""
    return RequestPublic(
        id=req.id,
        reference=req.reference,
        tracking_token=tracking_token(core, req.public_id),
        status=req.status,
        priority=req.priority,
        quote_pence=req.quote_pence,
        eta_minutes=req.eta_minutes,
        technician=TechnicianPublic(first_name=first_name(tech.tech_name), van=tech.tech_van_label or tech.tech_van_reg,
                                   registration=tech.tech_van_reg or "")
        if tech is not None and tech.tech_name is not None
        else None,
        duplicate=duplicate,
        location_label=req.location_label,
        location_approximate=req.location_approximate,
        postcode=req.postcode,
    )
