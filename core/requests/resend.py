"""Sending a request's tracking link again: a dispatcher's action from the drawer, and the answer to a second
submission for a number that already has a request open (only that number is texted; the submitter is told
nothing about the request).

Both write a `link_resent` event; the outbox trigger (migration 0009) turns it into a `tracking_link` text in
the same transaction. The request row is locked while the last resend is looked up, so two dispatchers
clicking at once, or a burst of duplicate submissions, text the driver once per RESEND_COOLDOWN_S.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import datetime, timedelta

import sqlalchemy as sa

from core.context import Core
from core.errors import Conflict, NotFound
from core.models import utcnow
from core.principal import Principal, Role
from core.privacy.retention import audit
from core.requests.tracking import link_expired

LINK_RESENT = "link_resent"
RESENDERS = (Role.DISPATCHER, Role.ADMIN)
DUPLICATE = Principal.system("duplicate-submission")

_LOCK = sa.text(
    "SELECT r.reference, r.status, COALESCE(r.phone_enc, '') <> '' AS has_phone,"
    " COALESCE(r.completed_at, r.cancelled_at) AS closed_at"
    " FROM service_request r WHERE r.id = :id FOR UPDATE OF r"
)
# A statement of its own, after the lock: at READ COMMITTED it sees what the lock's previous holder committed
# (a subquery of the locking statement would read the snapshot taken before it waited for the lock).
_LAST_SENT = sa.text("SELECT max(at) FROM request_event WHERE request_id = :id AND kind = :kind")
_EVENT = sa.text(
    "INSERT INTO request_event (request_id, at, kind, actor, actor_id, actor_role, data)"
    " VALUES (:id, :at, :kind, :actor, :actor_id, :actor_role, CAST(:data AS jsonb))"
)


@dataclass(frozen=True)
class Resent:
    reference: str
    sent: bool  # False: the link was sent less than RESEND_COOLDOWN_S ago, so not again
    last_sent: datetime | None


def resend_tracking_link(core: Core, who: Principal, request_id: int) -> Resent:
    """A dispatcher or admin texts the driver the tracking link again (audited). Conflict when the link no
    longer works or the number is gone, or when it was sent again moments ago."""
    who.require(*RESENDERS)
    done = _resend(core, who, request_id, reason="staff")
    if not done.sent:
        assert done.last_sent is not None  # not sent only because of a recent send
        ago = max(1, int((utcnow() - done.last_sent).total_seconds()))
        raise Conflict(f"The link for {done.reference} was texted {ago} s ago: wait a minute before sending it again.")
    audit(core, who, "tracking_link_resent", target=done.reference)
    return done


def resend_for_duplicate(core: Core, request_id: int) -> bool:
    """A second submission for the number of open request `request_id`: text that number its link (at most once
    per cooldown). True if a text was written now."""
    try:
        return _resend(core, DUPLICATE, request_id, reason="duplicate").sent
    except (Conflict, NotFound):
        return False


def _resend(core: Core, who: Principal, request_id: int, reason: str) -> Resent:
    now = utcnow()
    with core.engine.begin() as c:
        row = c.execute(_LOCK, {"id": request_id}).first()
        if row is None:
            raise NotFound("no such request")
        last_sent = c.execute(_LAST_SENT, {"id": request_id, "kind": LINK_RESENT}).scalar()
        if not row.has_phone:
            raise Conflict(f"{row.reference} no longer holds the driver's number.")
        if link_expired(row.status, row.closed_at, now):
            raise Conflict(f"The tracking link for {row.reference} has expired: call the driver instead.")
        cooldown = timedelta(seconds=core.settings.resend_cooldown_s)
        if last_sent is not None and now - last_sent < cooldown:
            return Resent(row.reference, False, last_sent)
        c.execute(_EVENT, {"id": request_id, "at": now, "kind": LINK_RESENT, **who.actor_columns(),
                           "data": json.dumps({"reason": reason})})
    return Resent(row.reference, True, now)
