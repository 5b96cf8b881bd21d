"""Taking a request: validate, price, store (PostgreSQL first), then dispatch.

The parts, one module each: where it is (`location`), whether it was seen before (`duplicates`),
the storing transaction (`store`), the answer (`public`). Tracking links: `tracking`.
"""

from __future__ import annotations

from sqlalchemy.exc import OperationalError

from core.context import Core
from core.dispatch.auto import AUTO_DISPATCH, dispatch_request
from core.errors import AlreadyOpen, Unavailable
from core.infra.db import translates_outages
from core.infra.events import DomainEvent
from core.infra.metrics import REQUESTS_ACCEPTED
from core.infra.ratelimit import Limit, rate_key_for_address
from core.models import utcnow
from core.requests.duplicates import IDEMPOTENCY_FIELD, body_fingerprint, check_key
from core.requests.location import ResolvedLocation, resolve_location
from core.requests.priority import priority
from core.requests.promise import quote
from core.requests.public import public_answer, public_view
from core.requests.resend import resend_for_duplicate
from core.requests.store import NewRequest, Stored, store_request
from core.schemas import RequestCreate, RequestPublic

__all__ = ["IDEMPOTENCY_FIELD", "resolve_location", "submit_request"]


@translates_outages
def submit_request(
    core: Core, data: RequestCreate, idempotency_key: str | None = None, client: str | None = None
) -> RequestPublic:
    """Validate, store first, then try to dispatch.

    A retry or a double tap (the same Idempotency-Key with the same body) gets the same request back.
    Anyone else submitting for a phone with a request open in the duplicate window gets AlreadyOpen,
    never that request's tracking link: only the client that made a request learns its token, and the
    link is texted again to that phone.
    A used key with another body is refused (ValidationFailed on idempotency_key), as Stripe does.
    A database outage comes out as `Unavailable`.
    """
    _limit(core, data.phone, client)
    check_key(idempotency_key)
    loc = resolve_location(core, data.location)
    try:
        stored = store_request(core, _new_request(core, data, idempotency_key, loc))
    except AlreadyOpen as e:
        if e.request_id is not None:
            resend_for_duplicate(core, e.request_id)  # to the number of the open request, never to the caller
        raise
    except OperationalError as e:
        raise Unavailable("We cannot take requests online right now.", service="database") from e
    if stored.duplicate:
        try:
            return public_view(core, stored.row.id, duplicate=True)
        except OperationalError:
            # Stored already: answer from what we hold rather than tell the driver it failed.
            return public_answer(core, stored.row, None, True)
    _announce(core, stored)
    return _answer(core, stored)


def _limit(core: Core, phone: str, client: str | None) -> None:
    """Rate limits per connection and per phone (the number already normalised to E.164 by RequestCreate)."""
    s = core.settings
    if client:
        core.limiter.hit(f"req-ip:{rate_key_for_address(client)}", Limit(s.rate_limit_requests_per_ip, 600),
                         f"Too many requests from this connection. Please call us on {s.support_phone}.")
    core.limiter.hit(f"req-phone:{core.vault.lookup_hash(phone)}", Limit(s.rate_limit_requests_per_phone, 3600),
                     f"Too many requests for this phone number. Please call us on {s.support_phone}.")


def _new_request(core: Core, data: RequestCreate, key: str | None, loc: ResolvedLocation) -> NewRequest:
    """Everything the storing transaction needs, worked out once (the price table may read the database)."""
    now = utcnow()
    return NewRequest(
        data=data, key=key, fingerprint=body_fingerprint(core, data) if key is not None else None, loc=loc,
        phone=data.phone, phone_hash=core.vault.lookup_hash(data.phone), now=now,
        priority=priority(data.issue, data.on_motorway, data.vulnerable),
        quote_pence=quote(core, data.issue, data.vehicle_type, data.on_motorway, now),  # the form's live quote too
        capabilities=data.required_capabilities(),
    )


def _announce(core: Core, stored: Stored) -> None:
    """A new request, and its assignment when a technician was claimed as it was stored."""
    REQUESTS_ACCEPTED.inc()
    req = stored.row
    events = [DomainEvent("request_created", request_id=req.id, data={"priority": req.priority})]
    if stored.tech is not None:
        events.append(DomainEvent("technician_assigned", request_id=req.id, technician_id=stored.tech.id,
                                  data={"eta_minutes": req.eta_minutes, "actor": AUTO_DISPATCH.name}))
    core.bus.publish(*events)


def _answer(core: Core, stored: Stored) -> RequestPublic:
    """Dispatch a request stored without trying, then the answer: read back, else from what the transaction returned."""
    req = stored.row
    if stored.dispatch_after:
        try:
            dispatch_request(core, req.id)
        except OperationalError:
            pass  # stored and pending: the sweep will dispatch it
        try:
            return public_view(core, req.id)
        except OperationalError:
            pass
    return public_answer(core, req, stored.tech, False)
