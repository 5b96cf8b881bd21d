"""Taking a request: validate, price, store (PostgreSQL first), then dispatch. Tracking links: `tracking`."""

from __future__ import annotations

import base64
import hashlib
import hmac
import secrets
import uuid
import zlib
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

import sqlalchemy as sa
from sqlalchemy.exc import IntegrityError, OperationalError
from sqlmodel import col, select

from core.context import Core
from core.dispatch.auto import ANYONE_FREE, CLAIM_TECH_FOR_ANSWER, dispatch_request, resync_technician
from core.errors import AlreadyOpen, NotFound, Unavailable, ValidationFailed
from core.geo import places
from core.geo.geocode import GeocoderUnavailable, InvalidPostcode, PostcodeNotFound, decode_plus_code
from core.geo.sphere import cell_of
from core.index.base import TechFilter
from core.infra.db import HotStatement, autocommit
from core.infra.events import DomainEvent
from core.infra.metrics import DISPATCH_LATENCY, REQUESTS_ACCEPTED
from core.infra.ratelimit import Limit, rate_key_for_address
from core.models import RequestEvent, ServiceRequest, Technician, utcnow
from core.principal import Role
from core.requests.pricing import quote_pence
from core.requests.priority import priority
from core.schemas import (
    LocationIn,
    RequestCreate,
    RequestPublic,
    TechnicianPublic,
)
from core.staff.admin import price_table
from core.states import OPEN_STATUSES, RequestStatus
from core.tokens import token_hash

_REF_ALPHABET = "ABCDEFGHJKLMNPQRSTUVWXYZ23456789"


@dataclass(frozen=True)
class ResolvedLocation:
    lat: float
    lng: float
    label: str
    approximate: bool
    postcode: str | None = None


# What the submitter is answered with (RequestPublic), read in one statement; built once, as they run per request.
PUBLIC_COLUMNS = (
    ServiceRequest.id, ServiceRequest.public_id, ServiceRequest.reference, ServiceRequest.status,
    ServiceRequest.priority, ServiceRequest.quote_pence, ServiceRequest.eta_minutes, ServiceRequest.location_label,
    ServiceRequest.location_approximate,
)
_PUBLIC_VIEW = (
    select(*PUBLIC_COLUMNS, Technician.name.label("tech_name"), Technician.van_label.label("tech_van_label"),  # type: ignore[attr-defined]
           Technician.van_reg.label("tech_van_reg"))  # type: ignore[attr-defined]
    .outerjoin(Technician, col(Technician.id) == ServiceRequest.technician_id)
    .where(col(ServiceRequest.id) == sa.bindparam("request_id"))
)
# What tells the client that made a request (same Idempotency-Key, same body) from anyone else.
_REPLAY_COLUMNS = (*PUBLIC_COLUMNS, ServiceRequest.idempotency_key, ServiceRequest.idempotency_fingerprint)
_BY_IDEMPOTENCY_KEY = HotStatement(select(*_REPLAY_COLUMNS).where(col(ServiceRequest.idempotency_key) == sa.bindparam("key")))
# The phone's lock, and whether any van could take the request at all (core.dispatch.auto.ANYONE_FREE): in a
# surge with every van busy, the request is stored pending without searching the index.
_PHONE_LOCK = HotStatement(sa.select(sa.func.pg_advisory_xact_lock(sa.bindparam("k")).label("locked"),
                                     ANYONE_FREE.label("anyone_free")))
_RECENT_OPEN = HotStatement(
    select(*_REPLAY_COLUMNS)
    .where(col(ServiceRequest.phone_hash) == sa.bindparam("phone_hash"), col(ServiceRequest.status).in_(OPEN_STATUSES),
           col(ServiceRequest.created_at) >= sa.bindparam("since"))
    .order_by(col(ServiceRequest.created_at).desc())
    .limit(1)
)

def tracking_token(core: Core, public_id: uuid.UUID) -> str:
    """Unguessable without the server's secret; derivable, so a retried submission gets it again."""
    mac = hmac.new(core.settings.secret_key.encode(), b"track:" + public_id.bytes, hashlib.sha256).digest()
    return base64.urlsafe_b64encode(public_id.bytes + mac[:12]).decode().rstrip("=")


def _new_reference() -> str:
    return "TH-" + "".join(secrets.choice(_REF_ALPHABET) for _ in range(6))


def resolve_location(core: Core, loc: LocationIn) -> ResolvedLocation:
    """Turn a point, a postcode or a Plus Code into a checked point in the service area."""
    if loc.lat is not None and loc.lng is not None:
        place, km = places.nearest_place(loc.lat, loc.lng)
        label = f"near {place.name}" if km < 25 else f"{km:.0f} km from {place.name}"
        res = ResolvedLocation(loc.lat, loc.lng, label, False)
    else:
        try:
            if loc.plus_code:
                g = decode_plus_code(loc.plus_code)
            else:
                g = core.geocoder.geocode_postcode(loc.postcode or "")
        except (InvalidPostcode, PostcodeNotFound, ValueError) as e:
            raise ValidationFailed({"location": str(e)}) from None
        except GeocoderUnavailable:
            raise ValidationFailed({"location": "We cannot look up postcodes right now: share your location instead."}) from None
        res = ResolvedLocation(g.lat, g.lng, g.label, g.approximate, g.postcode or None)
    if not places.in_service_area(res.lat, res.lng):
        raise ValidationFailed({"location": "That point is outside our service area: we cover Great Britain and Northern Ireland."})
    return res


def submit_request(
    core: Core, data: RequestCreate, idempotency_key: str | None = None, client: str | None = None
) -> RequestPublic:
    """Validate, store first, then try to dispatch.

    A retry or a double tap (the same Idempotency-Key with the same body) gets the same request back.
    Anyone else submitting for a phone with a request open in the duplicate window gets AlreadyOpen,
    never that request's tracking link: only the client that made a request learns its token.
    A used key with another body is refused (ValidationFailed on idempotency_key), as Stripe does.
    """
    phone = data.phone  # already normalised to E.164 by RequestCreate
    s = core.settings
    if client:
        core.limiter.hit(f"req-ip:{rate_key_for_address(client)}", Limit(s.rate_limit_requests_per_ip, 600),
                         f"Too many requests from this connection. Please call us on {s.support_phone}.")
    core.limiter.hit(f"req-phone:{core.vault.lookup_hash(phone)}", Limit(s.rate_limit_requests_per_phone, 3600),
                     f"Too many requests for this phone number. Please call us on {s.support_phone}.")
    if idempotency_key is not None and not (1 <= len(idempotency_key) <= 128):
        raise ValidationFailed({IDEMPOTENCY_FIELD: "must be 1-128 characters"})
    loc = resolve_location(core, data.location)
    now = utcnow()
    phone_hash = core.vault.lookup_hash(phone)
    try:
        fingerprint = body_fingerprint(core, data) if idempotency_key is not None else None
        stored = _store(core, data, idempotency_key, loc, phone, phone_hash, now, fingerprint)
    except OperationalError as e:
        raise Unavailable("We cannot take requests online right now.") from e
    req = stored.row
    if stored.duplicate:
        try:
            return public_view(core, req.id, duplicate=True)
        except OperationalError:
            # Stored already: answer from what we hold rather than tell the driver it failed.
            return _public(core, req, None, True)
    REQUESTS_ACCEPTED.inc()
    events = [DomainEvent("request_created", request_id=req.id, data={"priority": req.priority})]
    if stored.tech is not None:
        events.append(DomainEvent("technician_assigned", request_id=req.id, technician_id=stored.tech.id,
                                  data={"eta_minutes": req.eta_minutes, "actor": _AUTO}))
    core.bus.publish(*events)
    if stored.dispatch_after:
        try:
            dispatch_request(core, req.id)
        except OperationalError:
            pass  # stored and pending: the sweep will dispatch it
        try:
            return public_view(core, req.id)
        except OperationalError:
            pass
    # The answer from what the transaction returned: the request's row and the claimed technician's.
    return _public(core, req, stored.tech, False)


_AUTO = "auto-dispatch"
# Who a timeline entry of the driver's own names (name and role): the driver has no account.
CUSTOMER = "customer"

IDEMPOTENCY_FIELD = "idempotency_key"
KEY_REUSED = "This Idempotency-Key was already used with a different request body."
KEY_FROM_BEFORE_FINGERPRINTS = "This Idempotency-Key was already used for an earlier request: send a new key."


def body_fingerprint(core: Core, data: RequestCreate) -> str:
    """A keyed hash of the validated body, stored with its Idempotency-Key.

    Keyed with the phone vault's look-up key, not a plain sha256: the body holds the number, and
    every other field of it sits in the row in clear, so a plain hash would let whoever reads the
    table find the number by trying every UK mobile. This is no weaker than the row's phone_hash.
    """
    return core.vault.lookup_hash("request-body:" + data.canonical_json())


def already_open_message(core: Core) -> str:
    """What a second submission for a number with an open request is told.

    It names nothing of the open request. It promises no text message: none is sent yet (SMS comes
    with notifications), so it points to the link the first submitter was shown, and to the phone line.
    """
    return (f"A request from this number is already open. Use the tracking link from your first request, "
            f"or call us on {core.settings.support_phone} and we'll help.")


def _replay(row: Any, fingerprint: str | None) -> _Stored:
    """The stored request for the client that made it: its key and the same body, else refused."""
    if row.idempotency_fingerprint is None:
        # Stored before fingerprints (revision 0007): whether the body is the same cannot be told,
        # and handing the request over on the key alone is what this check exists to stop.
        raise ValidationFailed({IDEMPOTENCY_FIELD: KEY_FROM_BEFORE_FINGERPRINTS})
    if fingerprint is None or not hmac.compare_digest(row.idempotency_fingerprint, fingerprint):
        raise ValidationFailed({IDEMPOTENCY_FIELD: KEY_REUSED})
    return _Stored(row, True)

# Every column a new request is stored with, as bind parameters of one statement built once.
_NEW_REQUEST_FIELDS = (
    "public_id", "reference", "tracking_token_hash", "idempotency_key", "idempotency_fingerprint", "customer_name",
    "phone_enc", "phone_hash", "lat", "lng", "h3_cell", "location_label", "location_approximate", "postcode", "vehicle", "vehicle_reg",
    "vehicle_type", "tyre_size", "issue", "on_motorway", "vulnerable", "notes", "required_capabilities", "priority",
    "quote_pence", "status", "technician_id", "assigned_at", "eta_minutes", "version", "created_at",
)
_EVENT_DATA = RequestEvent.__table__.c.data.type  # type: ignore[attr-defined]
# The request and its first timeline entries in one statement: "created", and "assigned" when a technician
# was claimed in the same transaction (entries in this order, so the timeline reads created -> assigned).
_INSERT_REQUEST_WITH_EVENTS = HotStatement(sa.text(
    "WITH r AS (INSERT INTO service_request (" + ", ".join(_NEW_REQUEST_FIELDS) + ") VALUES ("
    + ", ".join("CAST(:required_capabilities AS varchar[])" if f == "required_capabilities" else f":{f}"
                for f in _NEW_REQUEST_FIELDS)
    + ") RETURNING " + ", ".join(c.name for c in PUBLIC_COLUMNS) + "),"  # type: ignore[attr-defined]
    " e AS (INSERT INTO request_event (request_id, at, kind, actor, actor_role, data)"
    " SELECT r.id, v.at, v.kind, v.actor, v.role, v.data FROM r CROSS JOIN (VALUES"
    f" (1, CAST(:event_at AS timestamptz), 'created', '{CUSTOMER}', '{CUSTOMER}', :created_data),"
    f" (2, CAST(:event_at AS timestamptz), 'assigned', '{_AUTO}', '{Role.SYSTEM}', :assigned_data))"
    " AS v(n, at, kind, actor, role, data)"
    " WHERE v.n = 1 OR :assigned ORDER BY v.n)"
    " SELECT * FROM r"
).bindparams(sa.bindparam("created_data", type_=_EVENT_DATA), sa.bindparam("assigned_data", type_=_EVENT_DATA)))


@dataclass(frozen=True)
class _ClaimedTech:
    """The technician a new request was assigned to as it was stored (tech_* names as in _PUBLIC_VIEW)."""

    id: int
    tech_name: str
    tech_van_label: str
    tech_van_reg: str


@dataclass(frozen=True)
class _Stored:
    row: Any  # PUBLIC_COLUMNS, by name
    duplicate: bool
    tech: _ClaimedTech | None = None
    dispatch_after: bool = False  # stored pending without trying dispatch: do it the usual way


def _store(
    core: Core,
    data: RequestCreate,
    key: str | None,
    loc: ResolvedLocation,
    phone: str,
    phone_hash: str,
    now: datetime,
    fingerprint: str | None = None,
) -> _Stored:
    """Store the request and, in the same transaction, claim the nearest free technician for it.

    One transaction instead of three (store, read back, claim): the request is never visible as
    pending to the sweep, and the answer comes from what the statements returned. The claim is the
    one of `core.dispatch.auto.claim` (Redis compare-and-set, then the technician row only if still
    available); a technician whose row says no is set back in Redis and the next one is tried.
    If the transaction fails after a technician was claimed in Redis, that technician is resynced.
    """
    prices = price_table(core)
    prio = priority(data.issue, data.on_motorway, data.vulnerable)
    quote = quote_pence(data.issue, data.vehicle_type.value, data.on_motorway, now, prices)
    capabilities = data.required_capabilities()
    dispatch_now = True
    for _attempt in range(3):
        won: int | None = None  # technician claimed in Redis during this attempt
        try:
            with core.engine.begin() as c:
                if key is not None:
                    found = _BY_IDEMPOTENCY_KEY(c, {"key": key}).fetchone()
                    if found:
                        return _replay(found, fingerprint)
                # Same phone submitting twice at once: one waits for the other, then sees it below
                # (each statement at READ COMMITTED sees what committed before it began).
                anyone_free = _PHONE_LOCK(c, {"k": zlib.crc32(phone_hash.encode())}).fetchone().anyone_free
                recent = _RECENT_OPEN(c, {
                    "phone_hash": phone_hash, "since": now - timedelta(seconds=core.settings.duplicate_window_s),
                }).fetchone()
                if recent:
                    if key is not None and recent.idempotency_key == key:
                        return _replay(recent, fingerprint)  # the same client's double tap, stored meanwhile
                    raise AlreadyOpen(already_open_message(core))
                tech: _ClaimedTech | None = None
                eta: int | None = None
                if dispatch_now and anyone_free:
                    with DISPATCH_LATENCY.time():
                        tech, eta, won = _claim_nearest(core, c, loc, capabilities, CLAIM_TECH_FOR_ANSWER)
                public_id = uuid.uuid4()
                req = _INSERT_REQUEST_WITH_EVENTS(c, {
                    "public_id": public_id,
                    "reference": _new_reference(),
                    "tracking_token_hash": token_hash(tracking_token(core, public_id)),
                    "idempotency_key": key,
                    "idempotency_fingerprint": fingerprint,
                    "customer_name": data.customer_name,
                    "phone_enc": core.vault.encrypt(phone),
                    "phone_hash": phone_hash,
                    "lat": loc.lat,
                    "lng": loc.lng,
                    "h3_cell": cell_of(loc.lat, loc.lng, core.settings.h3_resolution),
                    "location_label": loc.label[:120],
                    "location_approximate": loc.approximate,
                    "postcode": loc.postcode,
                    "vehicle": data.vehicle,
                    "vehicle_reg": data.vehicle_reg,
                    "vehicle_type": data.vehicle_type.value,
                    "tyre_size": data.tyre_size,
                    "issue": data.issue.value,
                    "on_motorway": data.on_motorway,
                    "vulnerable": data.vulnerable,
                    "notes": data.notes,
                    "required_capabilities": capabilities,
                    "priority": prio,
                    "quote_pence": quote,
                    # Stored already assigned when a technician was claimed: version 1, as after a claim.
                    "status": (RequestStatus.ASSIGNED if tech else RequestStatus.PENDING).value,
                    "technician_id": tech.id if tech else None,
                    "assigned_at": utcnow() if tech else None,
                    "eta_minutes": eta,
                    "version": 1 if tech else 0,
                    "created_at": now,
                    "event_at": utcnow(),
                    "created_data": {"priority": prio, "quote_pence": quote},
                    "assigned": tech is not None,
                    "assigned_data": {"technician_id": tech.id, "technician": tech.tech_name, "eta_minutes": eta}
                    if tech else {},
                }).fetchone()
            return _Stored(req, False, tech, dispatch_after=not dispatch_now)
        except IntegrityError:
            if won is not None:
                resync_technician(core, won)
                dispatch_now = False  # e.g. that technician's row is out of step: store, then dispatch apart
            continue  # same idempotency key at the same moment, or a reference collision: look again
        except BaseException:
            if won is not None:
                resync_technician(core, won)
            raise
    raise Unavailable("Could not store the request, please try again.")


def _claim_nearest(core: Core, c: sa.Connection, loc: ResolvedLocation, capabilities: list[str],
                   claim_tech: HotStatement) -> tuple[_ClaimedTech | None, int | None, int | None]:
    """The best candidates in turn, as `core.dispatch.auto.claim` does, inside the caller's transaction.

    Returns (technician, ETA minutes, id claimed in Redis that the caller must resync if it rolls back).
    """
    f = TechFilter(capabilities=frozenset(capabilities), max_age_s=core.settings.position_max_age_s)
    for cand in core.index.nearest(loc.lat, loc.lng, core.settings.dispatch_candidates, f):
        tid = cand.technician_id
        if core.index.try_claim(tid) is False:
            continue
        row = claim_tech(c, {"tech_id": tid}).fetchone()
        if row is None:  # no longer available in PostgreSQL: Redis is set back from the row
            resync_technician(core, tid)
            continue
        return _ClaimedTech(tid, row[0], row[1], row[2]), round(cand.eta_minutes), tid
    return None, None, None


def first_name(name: str) -> str:
    return name.split()[0] if name.split() else name


def public_view(core: Core, request_id: int, duplicate: bool = False) -> RequestPublic:
    with autocommit(core.engine).connect() as c:
        row = c.execute(_PUBLIC_VIEW, {"request_id": request_id}).first()
    if row is None:
        raise NotFound("no such request")
    return _public(core, row, row, duplicate)


def _public(core: Core, req, tech, duplicate: bool) -> RequestPublic:  # type: ignore[no-untyped-def]
    """From rows or models: `req` with PUBLIC_COLUMNS, `tech` with tech_name / tech_van_label / tech_van_reg or None."""
    return RequestPublic(
        id=req.id,
        reference=req.reference,
        tracking_token=tracking_token(core, req.public_id),
        status=req.status,
        priority=req.priority,
        quote_pence=req.quote_pence,
        eta_minutes=req.eta_minutes,
        technician=TechnicianPublic(first_name=first_name(tech.tech_name), van=tech.tech_van_label or tech.tech_van_reg)
        if tech is not None and tech.tech_name is not None
        else None,
        duplicate=duplicate,
        location_label=req.location_label,
        location_approximate=req.location_approximate,
    )
