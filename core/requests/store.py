"""Storing a new request: one transaction that looks for duplicates, claims the nearest free
technician and inserts the request with its first timeline entries.

One transaction instead of three (store, read back, claim): the request is never visible as
pending to the sweep, and the answer comes from what the statements returned.
"""

from __future__ import annotations

import secrets
import uuid
import zlib
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, NamedTuple

import sqlalchemy as sa
from sqlalchemy.exc import IntegrityError
from sqlmodel import col

from core.context import Core
from core.dispatch.auto import (
    ANYONE_FREE,
    AUTO_DISPATCH,
    claim_technician,
    dispatch_filter,
    resync_technician,
    within_reach,
)
from core.errors import AlreadyOpen, Unavailable
from core.geo.sphere import cell_of
from core.infra.db import HotStatement
from core.infra.metrics import DISPATCH_LATENCY
from core.models import RequestEvent, ServiceRequest, table_of, utcnow
from core.requests.duplicates import already_open_message, check_replay
from core.requests.location import ResolvedLocation
from core.requests.public import PUBLIC_COLUMNS, tracking_token
from core.schemas import RequestCreate
from core.states import OPEN_STATUSES, RequestStatus
from core.tokens import token_hash

# Who a timeline entry of the driver's own names (name and role): the driver has no account.
CUSTOMER = "customer"
_REF_ALPHABET = "ABCDEFGHJKLMNPQRSTUVWXYZ23456789"
_ATTEMPTS = 3



class PublicRow(NamedTuple):
    """A stored request's PUBLIC_COLUMNS (core.requests.public), as the insert returns them."""

    id: int
    public_id: uuid.UUID
    reference: str
    status: str
    priority: int
    quote_pence: int
    eta_minutes: int | None
    location_label: str
    location_approximate: bool
    postcode: str | None


class ReplayRow(NamedTuple):
    """PUBLIC_COLUMNS and what tells the client that made a request (same Idempotency-Key, same body)
    from anyone else."""

    id: int
    public_id: uuid.UUID
    reference: str
    status: str
    priority: int
    quote_pence: int
    eta_minutes: int | None
    location_label: str
    location_approximate: bool
    postcode: str | None
    idempotency_key: str | None
    idempotency_fingerprint: str | None


_REPLAY_COLUMNS = (*(col(c) for c in PUBLIC_COLUMNS), col(ServiceRequest.idempotency_key),
                   col(ServiceRequest.idempotency_fingerprint))
_BY_IDEMPOTENCY_KEY = HotStatement(
    sa.select(*_REPLAY_COLUMNS).where(col(ServiceRequest.idempotency_key) == sa.bindparam("key")), ReplayRow)


class _PhoneLocked(NamedTuple):
    locked: object  # pg_advisory_xact_lock returns void
    anyone_free: bool


# The phone's lock, and whether any van could take the request at all (core.dispatch.auto.ANYONE_FREE): in a
# surge with every van busy, the request is stored pending without searching the index.
_PHONE_LOCK = HotStatement(sa.select(sa.func.pg_advisory_xact_lock(sa.bindparam("k")).label("locked"),
                                     ANYONE_FREE.label("anyone_free")), _PhoneLocked)
_RECENT_OPEN = HotStatement(
    sa.select(*_REPLAY_COLUMNS)
    .where(col(ServiceRequest.phone_hash) == sa.bindparam("phone_hash"),
           col(ServiceRequest.status).in_(OPEN_STATUSES), col(ServiceRequest.created_at) >= sa.bindparam("since"))
    .order_by(col(ServiceRequest.created_at).desc())
    .limit(1),
    ReplayRow,
)

# Every column a new request is stored with, as bind parameters of one statement built once.
_NEW_REQUEST_FIELDS = (
    "public_id", "reference", "tracking_token_hash", "idempotency_key", "idempotency_fingerprint", "customer_name",
    "phone_enc", "phone_hash", "lat", "lng", "h3_cell", "location_label", "location_approximate", "postcode", "vehicle",
    "vehicle_reg", "vehicle_type", "tyre_size", "issue", "on_motorway", "vulnerable", "notes", "required_capabilities",
    "priority", "quote_pence", "status", "technician_id", "assigned_at", "eta_minutes", "version", "created_at",
)
_EVENT_DATA = table_of(RequestEvent).c.data.type
# The request and its first timeline entries in one statement: "created", and "assigned" when a technician
# was claimed in the same transaction (entries in this order, so the timeline reads created -> assigned).
_INSERT_REQUEST_WITH_EVENTS = HotStatement(sa.text(
    "WITH r AS (INSERT INTO service_request (" + ", ".join(_NEW_REQUEST_FIELDS) + ") VALUES ("
    + ", ".join("CAST(:required_capabilities AS varchar[])" if f == "required_capabilities" else f":{f}"
                for f in _NEW_REQUEST_FIELDS)
    + ") RETURNING " + ", ".join(PublicRow._fields) + "),"
    " e AS (INSERT INTO request_event (request_id, at, kind, actor, actor_role, data)"
    " SELECT r.id, v.at, v.kind, v.actor, v.role, v.data FROM r CROSS JOIN (VALUES"
    f" (1, CAST(:event_at AS timestamptz), 'created', '{CUSTOMER}', '{CUSTOMER}', :created_data),"
    f" (2, CAST(:event_at AS timestamptz), 'assigned', '{AUTO_DISPATCH.name}', '{AUTO_DISPATCH.role}', :assigned_data))"
    " AS v(n, at, kind, actor, role, data)"
    " WHERE v.n = 1 OR :assigned ORDER BY v.n)"
    " SELECT * FROM r"
).bindparams(sa.bindparam("created_data", type_=_EVENT_DATA), sa.bindparam("assigned_data", type_=_EVENT_DATA)),
    PublicRow)


@dataclass(frozen=True)
class NewRequest:
    """A request as it will be stored, worked out once before the transaction (retries reuse it)."""

    data: RequestCreate
    key: str | None
    fingerprint: str | None
    loc: ResolvedLocation
    phone: str
    phone_hash: str
    now: datetime
    priority: int
    quote_pence: int
    capabilities: list[str]


@dataclass(frozen=True)
class ClaimedTech:
    """The technician a new request was assigned to as it was stored (tech_* names as in core.requests.public)."""

    id: int
    tech_name: str
    tech_van_label: str
    tech_van_reg: str


@dataclass(frozen=True)
class Stored:
    row: PublicRow | ReplayRow
    duplicate: bool
    tech: ClaimedTech | None = None
    dispatch_after: bool = False  # stored pending without trying dispatch: do it the usual way


@dataclass
class _Attempt:
    """One try at the transaction: whether it may dispatch, and whom it claimed in Redis (to set back)."""

    dispatch_now: bool
    won: int | None = None


def store_request(core: Core, new: NewRequest) -> Stored:
    """Store the request and, in the same transaction, claim the nearest free technician for it.

    The claim is `core.dispatch.auto.claim_technician`, the one the sweep uses. If the transaction
    fails after a technician was claimed in Redis, that technician is resynced; a unique-key clash
    (the same idempotency key at the same moment, a reference collision) is tried again.
    """
    dispatch_now = True
    for _ in range(_ATTEMPTS):
        attempt = _Attempt(dispatch_now)
        try:
            with core.engine.begin() as c:
                return _store_once(core, c, new, attempt)
        except IntegrityError:
            if attempt.won is not None:
                resync_technician(core, attempt.won)
                dispatch_now = False  # e.g. that technician's row is out of step: store, then dispatch apart
        except BaseException:
            if attempt.won is not None:
                resync_technician(core, attempt.won)
            raise
    raise Unavailable("Could not store the request, please try again.")


def _store_once(core: Core, c: sa.Connection, new: NewRequest, attempt: _Attempt) -> Stored:
    """One try inside a transaction: a replay or a refusal if seen before, else claim and insert."""
    if new.key is not None:
        found = _BY_IDEMPOTENCY_KEY(c, {"key": new.key}).fetchone()
        if found:
            check_replay(found, new.fingerprint)
            return Stored(found, True)
    # Same phone submitting twice at once: one waits for the other, then sees it below
    # (each statement at READ COMMITTED sees what committed before it began).
    locked = _PHONE_LOCK(c, {"k": zlib.crc32(new.phone_hash.encode())}).fetchone()
    anyone_free = locked is not None and locked.anyone_free
    recent = _RECENT_OPEN(c, {
        "phone_hash": new.phone_hash, "since": new.now - timedelta(seconds=core.settings.duplicate_window_s),
    }).fetchone()
    if recent:
        if new.key is not None and recent.idempotency_key == new.key:
            check_replay(recent, new.fingerprint)  # the same client's double tap, stored meanwhile
            return Stored(recent, True)
        raise AlreadyOpen(already_open_message(core), request_id=recent.id)
    tech: ClaimedTech | None = None
    eta: int | None = None
    if attempt.dispatch_now and anyone_free:
        with DISPATCH_LATENCY.time():
            tech, eta, attempt.won = _claim_nearest(core, c, new)
    row = _INSERT_REQUEST_WITH_EVENTS(c, {**_request_columns(core, new), **_assignment_columns(new, tech, eta)})
    stored = row.fetchone()
    if stored is None:  # an INSERT ... RETURNING returns its row
        raise RuntimeError("the request insert returned no row")
    return Stored(stored, False, tech, dispatch_after=not attempt.dispatch_now)


def _claim_nearest(core: Core, c: sa.Connection, new: NewRequest) -> tuple[ClaimedTech | None, int | None, int | None]:
    """The best candidates in turn, each through `claim_technician`, inside the caller's transaction.

    Returns (technician, ETA minutes, id claimed in Redis that the caller must resync if it rolls back).
    """
    f = dispatch_filter(core, new.capabilities)
    for cand in within_reach(core, core.index.nearest(new.loc.lat, new.loc.lng, core.settings.dispatch_candidates, f)):
        tid = cand.technician_id
        row = claim_technician(core, c, tid)
        if row is not None:
            return ClaimedTech(tid, row.name, row.van_label, row.van_reg), round(cand.eta_minutes), tid
    return None, None, None


def _new_reference() -> str:
    return "TH-" + "".join(secrets.choice(_REF_ALPHABET) for _ in range(6))


def _request_columns(core: Core, new: NewRequest) -> dict[str, Any]:
    """What the submitter sent, and what was worked out from it, as `_INSERT_REQUEST_WITH_EVENTS` binds it."""
    data, loc = new.data, new.loc
    public_id = uuid.uuid4()
    return {
        "public_id": public_id,
        "reference": _new_reference(),
        "tracking_token_hash": token_hash(tracking_token(core, public_id)),
        "idempotency_key": new.key,
        "idempotency_fingerprint": new.fingerprint,
        "customer_name": data.customer_name,
        "phone_enc": core.vault.encrypt(new.phone),
        "phone_hash": new.phone_hash,
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
        "required_capabilities": new.capabilities,
        "priority": new.priority,
        "quote_pence": new.quote_pence,
        "created_at": new.now,
        "created_data": {"priority": new.priority, "quote_pence": new.quote_pence},
    }


def _assignment_columns(new: NewRequest, tech: ClaimedTech | None, eta: int | None) -> dict[str, Any]:
    """Stored already assigned when a technician was claimed (version 1, as after a claim), else pending."""
    return {
        "status": (RequestStatus.ASSIGNED if tech else RequestStatus.PENDING).value,
        "technician_id": tech.id if tech else None,
        "assigned_at": utcnow() if tech else None,
        "eta_minutes": eta,
        "version": 1 if tech else 0,
        "event_at": utcnow(),
        "assigned": tech is not None,
        "assigned_data": {"technician_id": tech.id, "technician": tech.tech_name, "eta_minutes": eta} if tech else {},
    }
