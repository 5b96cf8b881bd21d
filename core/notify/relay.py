"""The relay: sends what the outbox holds, each message once, in order per recipient and request.

Why not procrastinate or pgqueuer: both enqueue through their own Python call (or their own tables and
functions), and the outbox rows are written by a trigger on `request_event` (migration 0009), so that
every writer of an event, present and future, gets its message in its own transaction without calling
anything. What is left for a relay is small and lives here:

- claim: `FOR UPDATE SKIP LOCKED` on due rows, taking a row only when no earlier message to the same
  recipient about the same request is still unsent, and leasing it (`sending`, `next_attempt_at` = the
  lease's end) in a transaction of its own; any number of relays in any number of processes share the work;
- send: render the text from the request and the event (core.notify.templates), decrypt the number, keep
  a keyed digest of the text, call the provider with our key for the message (`msg-<id>`);
- mark: the provider's answer, fenced by the attempt number (a relay whose lease ran out and was taken
  over marks nothing);
- fail: back to `pending` after an exponential back-off with jitter, `dead` after NOTIFY_MAX_ATTEMPTS or
  at once when the provider refuses the message for good;
- a lost outcome (timeout, 5xx, a crash between the call and the mark; a lease that ran out) makes the
  message `in_doubt`: the next attempt asks the provider for it by digest before sending again
  (core.notify.providers.twilio says what remains of that window).
"""

from __future__ import annotations

import random
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, Protocol

import sqlalchemy as sa
import structlog
from cryptography.fernet import InvalidToken

from core.context import Core
from core.infra.db import autocommit
from core.infra.rows import rowcount
from core.models import utcnow
from core.notify import links
from core.notify.arriving import en_route_minutes
from core.notify.outbox import MessageStatus
from core.notify.providers.base import OutgoingText, SendFailed, SendResult, SmsProvider
from core.notify.templates import Facts, masked, render
from core.requests.public import first_name, tracking_token
from core.schemas import ISSUE_LABELS, Issue

log = structlog.get_logger("tyrehero.notify")

STATUS_CALLBACK_PATH = "/api/v1/notify/twilio/status"


class OfferPush(Protocol):
    """How an offer reaches a technician's phone before SMS is tried (Web Push; issue 21 point 4)."""

    def push_offer(self, technician_id: int, request_id: int, text: str) -> bool:
        """True if the offer was pushed to the technician's phone; False sends it by text instead."""
        ...


_CLAIM = sa.text(
    "WITH due AS ("
    " SELECT m.id, m.status AS was, m.digest AS prev_digest, m.attempt_started_at AS prev_started"
    " FROM outbound_message m"
    " WHERE m.status IN ('pending', 'sending') AND m.next_attempt_at <= :now"
    " AND NOT EXISTS (SELECT 1 FROM outbound_message p WHERE p.request_id = m.request_id"
    " AND p.recipient = m.recipient AND p.id < m.id AND p.status IN ('pending', 'sending'))"
    " ORDER BY m.next_attempt_at, m.id LIMIT :n FOR UPDATE OF m SKIP LOCKED)"
    " UPDATE outbound_message m SET status = 'sending', attempts = m.attempts + 1, next_attempt_at = :lease_end,"
    " in_doubt = m.in_doubt OR (due.was = 'sending' AND due.prev_digest IS NOT NULL),"
    " attempt_started_at = :now, updated_at = :now"
    " FROM due WHERE m.id = due.id"
    " RETURNING m.id, m.event_id, m.request_id, m.recipient, m.template, m.attempts, m.in_doubt,"
    " due.prev_digest, due.prev_started"
)
# What a text says, read when it is sent: the request, the event, and the technician the event names
# (else the request's).
_FACTS = sa.text(
    "SELECT r.reference, r.public_id, r.status, r.quote_pence, r.eta_minutes, r.assigned_at, r.phone_enc,"
    " r.lat, r.lng, r.issue, r.location_label, r.technician_id AS current_technician_id,"
    " e.kind, e.data, e.actor_role, t.id AS technician_id, t.name AS tech_name, t.van_label, t.van_reg,"
    " t.lat AS tech_lat, t.lng AS tech_lng, t.phone_enc AS tech_phone_enc,"
    " EXISTS (SELECT 1 FROM request_event l WHERE l.request_id = r.id AND l.kind = 'assigned' AND l.id > e.id)"
    " AS assigned_since"
    " FROM request_event e JOIN service_request r ON r.id = e.request_id"
    " LEFT JOIN technician t ON t.id = COALESCE(CAST(e.data->>'technician_id' AS integer), r.technician_id)"
    " WHERE e.id = :event_id"
)
_IN_FLIGHT = sa.text(
    "UPDATE outbound_message SET digest = :digest, preview = :preview WHERE id = :id AND attempts = :attempt"
    " AND status = 'sending'")
# A delivery report may have come first (Twilio calls back within a second): the status never goes back.
_SENT = sa.text(
    "UPDATE outbound_message SET status = CASE WHEN status = 'sending' THEN :status ELSE status END,"
    " provider = :provider, provider_id = COALESCE(provider_id, :provider_id), channel = :channel,"
    " provider_status = COALESCE(provider_status, :status), sent_at = :now, updated_at = :now, in_doubt = false,"
    " last_error = NULL WHERE id = :id AND attempts = :attempt")
_FAILED = sa.text(
    "UPDATE outbound_message SET status = :status, next_attempt_at = :retry_at, in_doubt = :in_doubt,"
    " last_error = :error, updated_at = :now WHERE id = :id AND attempts = :attempt AND status = 'sending'")


@dataclass(frozen=True)
class Claimed:
    id: int
    event_id: int
    request_id: int
    recipient: str
    template: str
    attempt: int
    in_doubt: bool
    prev_digest: str | None
    prev_started: datetime | None


class _Skip(Exception):
    """Not sent on purpose (nobody to send to, overtaken by events): the reason is kept."""


@dataclass(frozen=True)
class _Prepared:
    text: OutgoingText
    preview: str
    technician_id: int | None


class Relay:
    """Sends due outbox messages through `provider`; `clock` and `rng` are for tests."""

    def __init__(self, core: Core, provider: SmsProvider, *, offer_push: OfferPush | None = None,
                 clock: Callable[[], datetime] = utcnow, rng: Callable[[], float] = random.random) -> None:
        self.core = core
        self.provider = provider
        self.offer_push = offer_push
        self.clock = clock
        self.rng = rng
        self.settings = core.settings

    def run_once(self, limit: int | None = None) -> int:
        """Claim up to `limit` (NOTIFY_BATCH) due messages and send each; returns how many were claimed."""
        claimed = self.claim(limit or self.settings.notify_batch)
        for msg in claimed:
            self.deliver(msg)
        return len(claimed)

    def claim(self, limit: int) -> list[Claimed]:
        now = self.clock()
        with self.core.engine.begin() as c:
            rows = c.execute(_CLAIM, {"now": now, "n": limit,
                                      "lease_end": now + timedelta(seconds=self.settings.notify_lease_s)}).all()
        return [Claimed(*row) for row in rows]

    def deliver(self, msg: Claimed) -> None:
        """Send one claimed message and mark the outcome. Anything unforeseen leaves it leased: it is tried
        again, in doubt, when the lease runs out."""
        try:
            prepared = self._prepare(msg)
        except _Skip as why:
            self._finish(msg, MessageStatus.SKIPPED, str(why))
            return
        digest = self.digest(prepared.text.body)
        with autocommit(self.core.engine).connect() as c:
            c.execute(_IN_FLIGHT, {"id": msg.id, "attempt": msg.attempt, "digest": digest,
                                   "preview": prepared.preview[:400]})
        try:
            if msg.template == "offer" and self.offer_push is not None and prepared.technician_id is not None:
                if self.offer_push.push_offer(prepared.technician_id, msg.request_id, prepared.text.body):
                    self._mark_sent(msg, SendResult(f"push-{msg.id}", MessageStatus.SENT.value), "webpush", "push")
                    return
                if not prepared.text.to:
                    raise _Skip("the technician has no push subscription and no mobile number on file")
            result = self._recover(msg, prepared.text) if msg.in_doubt else None
            if result is None:
                result = self.provider.send(prepared.text)
        except _Skip as why:
            self._finish(msg, MessageStatus.SKIPPED, str(why))
            return
        except SendFailed as e:
            self._failed(msg, e)
            return
        self._mark_sent(msg, result, self.provider.name, "sms")

    def digest(self, body: str) -> str:
        """A keyed digest of a text (the phone vault's look-up key): finds it at the provider, reveals nothing."""
        return self.core.vault.lookup_hash("sms:" + body)

    def _recover(self, msg: Claimed, text: OutgoingText) -> SendResult | None:
        if msg.prev_digest is None or msg.prev_started is None:
            return None
        prev = msg.prev_digest
        since = msg.prev_started - timedelta(seconds=5)
        found = self.provider.find(text, since, lambda body: self.digest(body) == prev)
        if found is not None:
            log.info("text found at the provider after a lost outcome; not sent again", message_id=msg.id)
        return found

    def _prepare(self, msg: Claimed) -> _Prepared:
        with autocommit(self.core.engine).connect() as c:
            row = c.execute(_FACTS, {"event_id": msg.event_id}).first()
        if row is None:
            raise _Skip("the event is gone")
        try:
            return self._text(msg, row)
        except InvalidToken:
            raise _Skip("the number cannot be decrypted with PHONE_KEY") from None

    def _text(self, msg: Claimed, row: Any) -> _Prepared:
        token = tracking_token(self.core, row.public_id)
        facts = self._facts(msg, row, token)
        body = render(msg.template, facts)
        preview = masked(body)
        if msg.recipient == "technician":
            self._check_offer_open(row)
            to = self.core.vault.decrypt(row.tech_phone_enc) if row.tech_phone_enc else ""
            if not to and self.offer_push is None:
                raise _Skip("the technician has no mobile number on file")
        else:
            if not row.phone_enc:
                raise _Skip("the request no longer holds a number (anonymised)")
            if msg.template == "requeued" and row.assigned_since:
                raise _Skip("another technician was assigned meanwhile")
            to = self.core.vault.decrypt(row.phone_enc)
        callback = f"{self.settings.public_base_url}{STATUS_CALLBACK_PATH}?m={msg.id}"
        return _Prepared(OutgoingText(f"msg-{msg.id}", to, body, callback), preview, row.technician_id)

    @staticmethod
    def _check_offer_open(row: Any) -> None:
        if row.status != "assigned" or row.current_technician_id != row.technician_id:
            raise _Skip("the offer is no longer open")

    def _facts(self, msg: Claimed, row: Any, token: str) -> Facts:
        s = self.settings
        data = row.data or {}
        tech = row.tech_name is not None and msg.template not in ("received", "requeued", "cancelled")
        eta: int | None = None
        if msg.template == "assigned":
            eta = data.get("eta_minutes") or row.eta_minutes
        elif msg.template == "en_route" and row.tech_lat is not None and row.tech_lng is not None:
            eta = en_route_minutes(self.core, row.tech_lat, row.tech_lng, row.lat, row.lng)
        return Facts(
            reference=row.reference, tracking_url=links.tracking_url(s, token), home_url=s.public_base_url,
            support_phone=s.support_phone,
            technician=first_name(row.tech_name) if tech else None,
            van=(row.van_label or row.van_reg) if tech else None,
            eta_minutes=eta, price_pence=row.quote_pence,
            rating_url=links.rating_url(self.core, row.public_id) if msg.template == "completed" else None,
            by_customer=row.actor_role == "customer", issue=ISSUE_LABELS.get(Issue(row.issue)) if row.issue else None,
            place=row.location_label or None, offer_minutes=max(1, round(s.offer_timeout_s / 60)),
            tech_url=f"{s.public_base_url}{links.TECH_PATH}",
        )

    def _mark_sent(self, msg: Claimed, result: SendResult, provider: str, channel: str) -> None:
        with autocommit(self.core.engine).connect() as c:
            n = rowcount(c.execute(_SENT, {"id": msg.id, "attempt": msg.attempt, "status": result.status,
                                           "provider": provider, "provider_id": result.provider_id[:64],
                                           "channel": channel, "now": self.clock()}))
        if n != 1:  # our lease ran out and another relay took the message over: it will find this send
            log.warning("sent after the lease ran out", message_id=msg.id, attempt=msg.attempt)

    def _failed(self, msg: Claimed, e: SendFailed) -> None:
        if e.permanent or msg.attempt >= self.settings.notify_max_attempts:
            self._finish(msg, MessageStatus.DEAD, e.reason, in_doubt=e.in_doubt)
            log.warning("text given up", message_id=msg.id, attempts=msg.attempt, reason=e.reason)
            return
        now = self.clock()
        with autocommit(self.core.engine).connect() as c:
            c.execute(_FAILED, {"id": msg.id, "attempt": msg.attempt, "status": MessageStatus.PENDING.value,
                                "retry_at": now + timedelta(seconds=self.backoff_s(msg.attempt)),
                                "in_doubt": e.in_doubt, "error": e.reason, "now": now})

    def backoff_s(self, attempt: int) -> float:
        """Seconds before attempt `attempt + 1`: doubling from NOTIFY_RETRY_BASE_S up to NOTIFY_RETRY_MAX_S,
        each drawn between half and all of that (jitter, so a provider's outage does not end in a stampede)."""
        ceiling = min(self.settings.notify_retry_max_s, self.settings.notify_retry_base_s * 2.0 ** (attempt - 1))
        return float(ceiling * (0.5 + 0.5 * self.rng()))

    def _finish(self, msg: Claimed, status: MessageStatus, reason: str, in_doubt: bool = False) -> None:
        now = self.clock()
        with autocommit(self.core.engine).connect() as c:
            c.execute(_FAILED, {"id": msg.id, "attempt": msg.attempt, "status": status.value, "retry_at": now,
                                "in_doubt": in_doubt, "error": reason, "now": now})
