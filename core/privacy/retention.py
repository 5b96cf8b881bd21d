"""Personal data: retention (closed requests anonymised, old login failures deleted), and a customer's export and
erasure by phone number. Every action is audited with the account id and role of whoever acted."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import sqlalchemy as sa
from sqlmodel import Session, col, select

from core.context import Core
from core.errors import Conflict, NotFound
from core.infra.db import session_scope
from core.infra.rows import rowcount
from core.models import AuditEvent, LoginFailure, Rating, RequestEvent, ServiceRequest, utcnow
from core.phones import normalise_uk_mobile
from core.principal import Principal, Role
from core.states import RequestStatus

ERASED = "(erased)"
CLOSED = (RequestStatus.COMPLETED, RequestStatus.CANCELLED)
# What a timeline entry keeps once its request is anonymised: who handled it and how it went, for the
# figures. Every other key goes, free text above all (a cancel reason, a note, what was fitted), and any
# key added later goes too until it is listed here. Kinds and times are columns and stay.
KEPT_EVENT_DATA = ("technician_id", "technician", "eta_minutes", "reassigned", "priority", "quote_pence")
RETENTION = Principal.system("retention")


def audit(core: Core, who: Principal, action: str, target: str = "", **data: Any) -> None:
    """One row of the audit trail: the acting account's name, id and role, what it did, to what."""
    with session_scope(core.engine) as s:
        s.add(AuditEvent(**who.actor_columns(), action=action, target=target[:100], data=data))


def _anonymise(s: Session, where: sa.ColumnElement[bool]) -> int:
    """Remove what identifies the driver, on the request and in its timeline; keep what the figures need
    (times, kinds, area, issue, price)."""
    ids = s.execute(
        sa.update(ServiceRequest).where(where).values(
            customer_name=ERASED, phone_enc="", phone_hash="", notes="", vehicle_reg=None, tyre_size=None,
            lat=sa.func.round(sa.cast(ServiceRequest.lat, sa.Numeric), 2),
            lng=sa.func.round(sa.cast(ServiceRequest.lng, sa.Numeric), 2),
            location_label="", postcode=None, idempotency_key=None, idempotency_fingerprint=None, cancel_reason=None,
        ).returning(col(ServiceRequest.id))
    ).scalars().all()
    if ids:
        _scrub_timeline(s, list(ids))
        # A rating's comment is free text that may name the driver; its stars stay for the figures.
        s.execute(sa.update(Rating).where(col(Rating.request_id).in_(list(ids))).values(comment=""))
    return len(ids)


# A timeline entry's data narrowed to KEPT_EVENT_DATA; entries with nothing else are left alone.
_SCRUB_TIMELINE = sa.text(
    "UPDATE request_event AS e SET data = (SELECT coalesce(jsonb_object_agg(d.key, d.value), '{}'::jsonb)"
    " FROM jsonb_each(e.data) AS d WHERE d.key = ANY(:keep))"
    " WHERE e.request_id = ANY(:ids)"
    " AND EXISTS (SELECT 1 FROM jsonb_object_keys(e.data) AS k WHERE NOT k = ANY(:keep))"
)


def _scrub_timeline(s: Session, request_ids: list[int]) -> None:
    s.execute(_SCRUB_TIMELINE, {"ids": request_ids, "keep": list(KEPT_EVENT_DATA)})


def apply_retention(core: Core, days: int | None = None) -> int:
    """Anonymise requests closed more than `days` ago (setting RETENTION_DAYS), and delete the login failures
    (a username and an address) recorded before then; returns how many requests were anonymised."""
    days = days if days is not None else core.settings.retention_days
    cutoff = utcnow() - timedelta(days=days)
    with session_scope(core.engine) as s:
        n = _anonymise(s, sa.and_(
            col(ServiceRequest.status).in_(CLOSED), col(ServiceRequest.customer_name) != ERASED,
            sa.func.coalesce(ServiceRequest.completed_at, ServiceRequest.cancelled_at,
                             ServiceRequest.created_at) < cutoff,
        ))
        deleted = s.execute(sa.delete(LoginFailure).where(col(LoginFailure.at) < cutoff))
    failures = rowcount(deleted)
    if n or failures:
        audit(core, RETENTION, "anonymised", count=n, login_failures=failures, older_than_days=days)
    return n


def _requests_of(core: Core, s: Session, phone: str) -> list[ServiceRequest]:
    e164 = normalise_uk_mobile(phone)
    return list(s.exec(select(ServiceRequest).where(ServiceRequest.phone_hash == core.vault.lookup_hash(e164))
                       .order_by(col(ServiceRequest.created_at))).all())


def export_customer(core: Core, who: Principal, phone: str) -> dict[str, Any]:
    """Everything held about one phone number, as JSON (a subject access request). Admin only."""
    who.require(Role.ADMIN)
    with Session(core.engine) as s:
        reqs = _requests_of(core, s, phone)
        events = s.exec(select(RequestEvent).where(col(RequestEvent.request_id).in_([r.id for r in reqs]))
                        .order_by(col(RequestEvent.at))).all() if reqs else []
    if not reqs:
        raise NotFound("We hold no requests for that number.")
    out = {
        "phone": normalise_uk_mobile(phone),
        "requests": [
            r.model_dump(exclude={"phone_enc", "phone_hash", "tracking_token_hash", "idempotency_key",
                                  "idempotency_fingerprint"}, mode="json")
            | {"timeline": [e.model_dump(include={"at", "kind", "actor", "data"}, mode="json")
                            for e in events if e.request_id == r.id]}
            for r in reqs
        ],
    }
    audit(core, who, "exported", target=reqs[0].reference, requests=len(reqs))
    return out


def erase_customer(core: Core, who: Principal, phone: str) -> int:
    """Anonymise every closed request of a phone number; refused while one is still open. Admin only.

    Customers have no account, so no login failure is theirs: retention deletes those by age."""
    who.require(Role.ADMIN)
    with session_scope(core.engine) as s:
        reqs = _requests_of(core, s, phone)
        if not reqs:
            raise NotFound("We hold no requests for that number.")
        if any(r.status not in CLOSED for r in reqs):
            raise Conflict("A request of this customer is still open: erase after it is closed.")
        n = _anonymise(s, col(ServiceRequest.id).in_([r.id for r in reqs]))
    audit(core, who, "erased", target=reqs[0].reference, requests=n)
    return n
