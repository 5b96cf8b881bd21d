"""The customer's tracking link: what it shows, how long it lives, and cancelling through it.

(Over 300 lines: the one tracking statement, its typed row and the rules that read it belong together.)"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import NamedTuple, Protocol

import sqlalchemy as sa
from cryptography.fernet import InvalidToken
from sqlalchemy.dialects.postgresql import aggregate_order_by
from sqlmodel import Session, col, select

from core.context import Core
from core.dispatch.auto import after_release
from core.errors import IllegalTransition, LinkExpired, NotFound
from core.geo.sphere import haversine_km
from core.infra.db import HotStatement, autocommit, session_scope, translates_outages
from core.models import RequestEvent, ServiceRequest, Technician, table_of, utcnow
from core.phones import tel_link
from core.requests.promise import best_eta, in_reach
from core.requests.public import first_name
from core.requests.store import CUSTOMER
from core.schemas import (
    Position,
    TechnicianPublic,
    TimelineEntry,
    TrackingView,
)
from core.states import CANCELLABLE, OPEN_STATUSES, RequestStatus, TechStatus, request_transition, status_words
from core.tokens import token_hash


def _not_found() -> NotFound:
    # The link comes in our first text (core.notify): opening it again from there is the usual fix.
    return NotFound("We could not find that request. Check that the whole link from our text message was opened.")


def _stored_token_hash(token: str) -> str:
    """The hash a request stores for its tracking token; NotFound for a token no request could have."""
    if not token or len(token) > 64:
        raise _not_found()
    return token_hash(token)


# A tracking link works while its request is open and for a day after it closed (the driver can still
# see how it ended), then answers as an unknown link: a forwarded or leaked link does not live on.
TRACKING_LINK_LIFETIME_AFTER_CLOSE = timedelta(hours=24)
CLOSED_STATUSES = frozenset(RequestStatus) - OPEN_STATUSES


def link_expired(status: str, closed_at: datetime | None, now: datetime) -> bool:
    """Whether a tracking link of a request in `status`, closed at `closed_at`, is past its lifetime at `now`.

    A closed request without a closing time (every close writes one; rows edited by hand might not)
    counts as expired: fail closed.
    """
    if status not in CLOSED_STATUSES:
        return False
    return closed_at is None or now >= closed_at + TRACKING_LINK_LIFETIME_AFTER_CLOSE


def _expired(core: Core) -> LinkExpired:
    return LinkExpired(
        "This tracking link has expired: links stop working a day after the request is closed. "
        f"If you need help again, ask on our home page or call us on {core.settings.support_phone}."
    )


def _locked_by_token(core: Core, s: Session, token: str, now: datetime) -> ServiceRequest:
    req = s.exec(select(ServiceRequest).where(ServiceRequest.tracking_token_hash == _stored_token_hash(token))
                 .with_for_update()).first()
    if req is None:
        raise _not_found()
    if link_expired(req.status, req.completed_at or req.cancelled_at, now):
        raise _expired(core)
    return req


_EVENT_TEXT = {
    "created": "Request received",
    "assigned": "Technician assigned",
    "accepted": "Technician accepted the job",
    "en_route": "Technician on the way",
    "on_site": "Technician arrived",
    "completed": "Job completed",
    "cancelled": "Request cancelled",
    "unassigned": "Finding another technician",
    "declined": "Finding another technician",
    "note": "Note added",
}


class _TrackRow(NamedTuple):
    """What a tracking page shows, read in one statement (`_TRACK`)."""

    reference: str
    status: str
    lat: float
    lng: float
    eta_minutes: int | None
    assigned_at: datetime | None
    quote_pence: int
    location_label: str
    location_approximate: bool
    postcode: str | None
    created_at: datetime
    cancel_reason: str | None
    required_capabilities: list[str]
    closed_at: datetime | None
    tech_name: str | None
    tech_van_label: str | None
    tech_van_reg: str | None
    tech_lat: float | None
    tech_lng: float | None
    tech_phone_enc: str | None
    ahead: int | None  # waiting requests dispatch takes first, while this one waits
    fitted: str | None  # what the technician fitted, once completed
    event_at: list[datetime] | None
    event_kind: list[str] | None


@dataclass(frozen=True)
class _Van:
    lat: float | None
    lng: float | None


class Trip(Protocol):
    """What `remaining_eta` reads of a request (a tracking row or a stored request)."""

    @property
    def status(self) -> str: ...
    @property
    def lat(self) -> float: ...
    @property
    def lng(self) -> float: ...
    @property
    def eta_minutes(self) -> int | None: ...
    @property
    def assigned_at(self) -> datetime | None: ...


class Whereabouts(Protocol):
    """Where a van is, when known."""

    @property
    def lat(self) -> float | None: ...
    @property
    def lng(self) -> float | None: ...


def remaining_eta(core: Core, req: Trip, tech: Whereabouts | None, now: datetime) -> int | None:
    """Minutes until the van arrives: from its live position when known, else the quoted ETA less time passed."""
    if req.status not in (RequestStatus.ASSIGNED, RequestStatus.EN_ROUTE) or tech is None:
        return None
    if tech.lat is not None and tech.lng is not None:
        minutes = core.eta.eta_minutes(tech.lat, tech.lng, req.lat, req.lng)
        if req.status == RequestStatus.EN_ROUTE:
            minutes -= getattr(core.eta, "mobilisation_min", 0.0)
        return max(1, round(minutes))
    if req.eta_minutes is not None and req.assigned_at is not None:
        return max(1, req.eta_minutes - int((now - req.assigned_at).total_seconds() // 60))
    return None


# The statuses in which a tracking view shows the van, where it is and when it arrives: while a
# technician is on the job, and never once the request is closed.
_VAN_SHOWN = frozenset({RequestStatus.ASSIGNED, RequestStatus.EN_ROUTE, RequestStatus.ON_SITE})

_R = table_of(ServiceRequest).alias("r")
_T = table_of(Technician).alias("t")
_E = table_of(RequestEvent).alias("e")
_Q = table_of(ServiceRequest).alias("q")
# What a tracking page shows, in one statement (tracking pages poll every few seconds): the request,
# its technician, its timeline and, while it waits, how many waiting requests go before it
# (more urgent, or as urgent and older: the order dispatch takes them in).
_TRACK = HotStatement(
    sa.select(
        _R.c.reference, _R.c.status, _R.c.lat, _R.c.lng, _R.c.eta_minutes, _R.c.assigned_at, _R.c.quote_pence,
        _R.c.location_label, _R.c.location_approximate, _R.c.postcode, _R.c.created_at, _R.c.cancel_reason,
        _R.c.required_capabilities,
        sa.func.coalesce(_R.c.completed_at, _R.c.cancelled_at).label("closed_at"),
        _T.c.name.label("tech_name"), _T.c.van_label.label("tech_van_label"), _T.c.van_reg.label("tech_van_reg"),
        _T.c.lat.label("tech_lat"), _T.c.lng.label("tech_lng"), _T.c.phone_enc.label("tech_phone_enc"),
        sa.case((_R.c.status == RequestStatus.PENDING, sa.select(sa.func.count()).select_from(_Q).where(
            _Q.c.status == RequestStatus.PENDING,
            sa.or_(_Q.c.priority < _R.c.priority,
                   sa.and_(_Q.c.priority == _R.c.priority, _Q.c.created_at < _R.c.created_at)),
        ).scalar_subquery())).label("ahead"),
        sa.select(_E.c.data["fitted"].astext).where(_E.c.request_id == _R.c.id, _E.c.kind == "completed")
        .order_by(_E.c.id.desc()).limit(1).scalar_subquery().label("fitted"),
        *(sa.select(sa.func.array_agg(aggregate_order_by(col_, _E.c.at, _E.c.id)))
          .where(_E.c.request_id == _R.c.id).scalar_subquery().label(f"event_{col_.name}")
          for col_ in (_E.c.at, _E.c.kind)),
    )
    .select_from(_R.outerjoin(_T, _T.c.id == _R.c.technician_id))
    .where(_R.c.tracking_token_hash == sa.bindparam("token_hash")),
    _TrackRow,
)


@translates_outages
def track(core: Core, token: str, now: datetime | None = None) -> TrackingView:
    """The customer's view of their request: every reader of a tracking link (the API, the tracking
    page, the map and its GeoJSON) goes through here, so the rules below hold for all of them.

    Once the request is closed the view holds no van, no van position, no ETA and no technician's number
    (`technician_tel` is there only while assigned, en route or on site, when they have a mobile on file); a day after
    closing the link is expired (LinkExpired, a NotFound). `now` is for tests; default the clock.
    A database outage comes out as `Unavailable`.
    """
    h = _stored_token_hash(token)
    now = now if now is not None else utcnow()
    with autocommit(core.engine).connect() as c:
        req = _TRACK(c, {"token_hash": h}).fetchone()
    if req is None:
        raise _not_found()
    if link_expired(req.status, req.closed_at, now):
        raise _expired(core)
    live = req.status in _VAN_SHOWN
    tech_name = req.tech_name if live else None  # the van is shown only while live
    van = _Van(req.tech_lat, req.tech_lng) if tech_name is not None else None
    pos = None
    if tech_name is not None and req.tech_lat is not None and req.tech_lng is not None:
        pos = Position(lat=req.tech_lat, lng=req.tech_lng)
    eta = remaining_eta(core, req, van, now) if live else None
    arrive_by = now + timedelta(minutes=eta) if eta is not None else None
    sla = core.settings.sla_minutes
    late = arrive_by is not None and arrive_by > req.created_at + timedelta(minutes=sla)
    waiting = req.status == RequestStatus.PENDING
    return TrackingView(
        reference=req.reference,
        status=req.status,
        status_text=status_words(req.status),
        eta_minutes=eta,
        quote_pence=req.quote_pence,
        technician=TechnicianPublic(first_name=first_name(tech_name), van=req.tech_van_label or req.tech_van_reg or "",
                                    registration=req.tech_van_reg or "")
        if tech_name is not None
        else None,
        technician_position=pos,
        customer_position=Position(lat=req.lat, lng=req.lng),
        location_label=req.location_label,
        location_approximate=req.location_approximate,
        postcode=req.postcode,
        arrive_by=arrive_by.isoformat() if arrive_by else None,
        sla_minutes=sla,
        late_reason=_late_reason(core, req, van) if late else None,
        no_van_in_reach=waiting and not in_reach(core, best_eta(core, req.lat, req.lng, req.required_capabilities)),
        phone=core.settings.support_phone,
        technician_tel=_technician_tel(core, req.tech_phone_enc) if tech_name is not None else None,
        fitted=(req.fitted or None) if req.status == RequestStatus.COMPLETED else None,
        cancel_reason=req.cancel_reason if req.status == RequestStatus.CANCELLED else None,
        cancellable=req.status in CANCELLABLE,
        queue_position=None if req.ahead is None else int(req.ahead) + 1,
        created_at=req.created_at.isoformat(),
        timeline=[
            TimelineEntry(at=at.isoformat(), kind=kind, text=_EVENT_TEXT[kind])
            for at, kind in zip(req.event_at or (), req.event_kind or (), strict=True)
            if kind in _EVENT_TEXT and kind != "note"
        ],
    )


def _technician_tel(core: Core, enc: str | None) -> str | None:
    """The technician's mobile as a `tel:` link, or None (no number, or one under a key no longer configured:
    the page then offers TyreHero's line)."""
    if not enc:
        return None
    try:
        return tel_link(core.vault.decrypt(enc))
    except InvalidToken:
        return None


def _late_reason(core: Core, req: _TrackRow, van: _Van | None) -> str:
    """Why the van is due after the promise, in the driver's words."""
    waited = (req.assigned_at - req.created_at).total_seconds() / 60 if req.assigned_at is not None else 0.0
    if waited >= 10:
        return "every van near you was busy when you asked, so the first one free is coming to you"
    if van is not None and van.lat is not None and van.lng is not None:
        km = haversine_km(van.lat, van.lng, req.lat, req.lng)
        return f"the nearest free van was {km:.0f} km away"
    return "the nearest free van was further away than usual"


def cancel_by_token(core: Core, token: str, reason: str = "cancelled by customer",
                    now: datetime | None = None) -> TrackingView:
    """Cancel while the technician is not yet on site."""
    now = now if now is not None else utcnow()
    with session_scope(core.engine) as s:
        req = _locked_by_token(core, s, token, now)
        if req.status not in CANCELLABLE:
            raise IllegalTransition(
                "This request can no longer be cancelled: the technician is already with you."
                if req.status == RequestStatus.ON_SITE
                else f"This request is already {status_words(req.status)}."
            )
        request_id = cancel_in_session(s, req, reason, actor=CUSTOMER, actor_id=None, actor_role=CUSTOMER)
    after_release(core, request_id, None)
    return track(core, token, now)


def cancel_in_session(s: Session, req: ServiceRequest, reason: str, actor: str, actor_id: int | None,
                      actor_role: str) -> int:
    """Cancel a request locked in `s`, freeing its technician; the timeline says who (name, account id, role)."""
    request_id = req.id
    if request_id is None:
        raise ValueError("only a stored request can be cancelled")
    request_transition(req.status, RequestStatus.CANCELLED)
    tech_id = req.technician_id
    req.status = RequestStatus.CANCELLED.value
    req.cancelled_at = utcnow()
    req.cancel_reason = reason[:200]
    req.version += 1
    s.add(req)
    s.add(RequestEvent(request_id=request_id, kind="cancelled", actor=actor, actor_id=actor_id, actor_role=actor_role,
                       data={"reason": reason[:200]}))
    if tech_id is not None:
        s.execute(
            sa.update(Technician)
            .where(col(Technician.id) == tech_id,
                   col(Technician.status).in_((TechStatus.ASSIGNED, TechStatus.EN_ROUTE)))
            .values(status=TechStatus.AVAILABLE, version=Technician.version + 1)
        )
    return request_id

