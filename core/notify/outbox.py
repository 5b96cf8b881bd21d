"""The outbox's vocabulary and the reads and writes around the relay: statuses, delivery reports from the
provider, and the staff's list of messages."""

from __future__ import annotations

from enum import StrEnum

import sqlalchemy as sa
from pydantic import BaseModel

from core.context import Core
from core.infra.db import autocommit
from core.infra.rows import rowcount
from core.models import utcnow
from core.principal import Principal, Role

OUTBOX_CHANNEL = "outbound_message"  # the NOTIFY channel the outbox trigger signals on commit


class MessageStatus(StrEnum):
    PENDING = "pending"  # written, waiting for the relay (or for its next attempt after a failure)
    SENDING = "sending"  # leased by a relay; a lease that runs out means the outcome was lost
    QUEUED = "queued"  # the provider took it
    SENT = "sent"  # the provider handed it to the network
    DELIVERED = "delivered"  # the network reports it on the phone
    FAILED = "failed"  # the provider took it but could not deliver it
    DEAD = "dead"  # given up: refused for good, or NOTIFY_MAX_ATTEMPTS tries failed
    SKIPPED = "skipped"  # not sent on purpose: nobody to send to, or overtaken by events


# A delivery report never moves a message backwards (reports arrive out of order): only to a later rank.
RANK = {MessageStatus.PENDING: 0, MessageStatus.SENDING: 1, MessageStatus.QUEUED: 2, MessageStatus.SENT: 3,
        MessageStatus.DELIVERED: 4, MessageStatus.FAILED: 4}
REPORTABLE = frozenset({MessageStatus.QUEUED, MessageStatus.SENT, MessageStatus.DELIVERED, MessageStatus.FAILED})

_RANK_SQL = "CASE status " + " ".join(f"WHEN '{s.value}' THEN {r}" for s, r in RANK.items()) + " ELSE 9 END"
# A report may come before the relay marked its send (Twilio calls back within a second), or instead of the
# mark (the relay died after the call): then it is the report that records the send, and the lease that ran
# out finds the message no longer `sending`.
_REPORT = sa.text(
    "UPDATE outbound_message SET"
    f" status = CASE WHEN {_RANK_SQL} < :rank THEN :status ELSE status END,"
    " provider_status = :raw, provider_id = COALESCE(provider_id, :sid), provider = :provider,"
    " channel = COALESCE(channel, 'sms'), sent_at = COALESCE(sent_at, :now), in_doubt = false, updated_at = :now,"
    " last_error = COALESCE(:error, last_error)"
    " WHERE id = :id AND (provider_id IS NULL OR provider_id = :sid)"
    " AND (provider = :provider OR (provider IS NULL AND status = 'sending'))"
    " AND status NOT IN ('pending', 'dead', 'skipped')"
)


def record_delivery_report(core: Core, message_id: int, provider: str, provider_id: str, raw_status: str,
                           status: MessageStatus, error: str | None = None) -> bool:
    """A provider's (already authenticated) report on one message. False when no message of ours matches
    (another message's id, another provider, or one we never sent)."""
    if status not in REPORTABLE:
        raise ValueError(f"{status} is not a delivery status")
    with autocommit(core.engine).connect() as c:
        n = rowcount(c.execute(_REPORT, {"id": message_id, "provider": provider, "sid": provider_id[:64],
                                         "raw": raw_status[:16], "status": status.value, "rank": RANK[status],
                                         "now": utcnow(), "error": error[:300] if error else None}))
    return n == 1


class MessageLine(BaseModel):
    """One message as the staff's Messages list shows it (the text with its link's token masked)."""

    id: int
    created_at: str  # ISO 8601, UTC
    reference: str
    recipient: str
    template: str
    status: str
    attempts: int
    channel: str
    preview: str
    last_error: str


_RECENT = sa.text(
    "SELECT m.id, m.created_at, r.reference, m.recipient, m.template, m.status, m.attempts, m.channel, m.preview,"
    " m.last_error FROM outbound_message m JOIN service_request r ON r.id = m.request_id"
    " WHERE (CAST(:request_id AS integer) IS NULL OR m.request_id = :request_id)"
    " ORDER BY m.id DESC LIMIT :n"
)


def recent_messages(core: Core, who: Principal, limit: int = 50, request_id: int | None = None) -> list[MessageLine]:
    """The newest messages (of one request, when given), newest first: for admins and dispatchers."""
    who.require(Role.ADMIN, Role.DISPATCHER)
    return read_messages(core, limit, request_id)


def read_messages(core: Core, limit: int = 50, request_id: int | None = None) -> list[MessageLine]:
    """`recent_messages` for a caller that has checked the principal already (the console's drawer)."""
    with autocommit(core.read_engine).connect() as c:
        rows = c.execute(_RECENT, {"n": max(1, min(limit, 500)), "request_id": request_id}).all()
    return [MessageLine(id=r.id, created_at=r.created_at.isoformat(timespec="seconds"), reference=r.reference,
                        recipient=r.recipient, template=r.template, status=r.status, attempts=r.attempts,
                        channel=r.channel or "", preview=r.preview or "", last_error=r.last_error or "")
            for r in rows]
