"""Web Push of job offers (`WebPushOffers`, the relay's `OfferPush`): the offer reaches the technician's phone
as a notification, and an open /tech page refreshes at once; the text is sent only when no phone took it.

Each of the technician's subscriptions (core.notify.push_subscriptions) gets the offer, encrypted to the
browser's keys (aes128gcm, RFC 8291) and signed with our VAPID key (RFC 8292), through `pywebpush`:
TTL the offer's timeout (an offer older than that is gone anyway), urgency high (a phone in power saving
still wakes). An accepted push (201/202) from any phone counts as sent. A push service answering 404/410
says the subscription is gone for good: its row is deleted. Anything else (an error status, a timeout, the
service unreachable) counts as not pushed, and the relay texts the offer instead; nothing is retried here.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from urllib.parse import urlsplit

import requests
import sqlalchemy as sa
import structlog
from py_vapid import Vapid, VapidException
from pywebpush import WebPushException, webpush
from sqlalchemy.exc import SQLAlchemyError

from core.context import Core
from core.errors import Unavailable
from core.infra.db import autocommit
from core.models import utcnow
from core.notify import links
from core.notify.push_subscriptions import signing_key

log = structlog.get_logger("tyrehero.notify")

GONE = frozenset({404, 410})
# Only phones still signed in as the technician: a logged-out, expired or revoked login's phone is not one.
_TARGETS = sa.text(
    "SELECT s.id, s.endpoint, s.p256dh, s.auth, r.reference FROM push_subscription s"
    " JOIN auth_session a ON a.token_hash = s.session_hash AND a.revoked_at IS NULL AND a.expires_at > :now"
    " JOIN service_request r ON r.id = :r WHERE s.technician_id = :t ORDER BY s.id")


@dataclass(frozen=True)
class _Target:
    id: int
    endpoint: str
    p256dh: str
    auth: str
    reference: str


class WebPushOffers:
    """Pushes offers to the technician's subscribed phones. One per relay; its HTTP session is reused."""

    def __init__(self, core: Core, session: requests.Session | None = None) -> None:
        self.core = core
        self.vapid = Vapid(private_key=signing_key(core.settings))
        self.session = session or requests.Session()

    def push_offer(self, technician_id: int, request_id: int, text: str) -> bool:
        """True when at least one of the technician's phones' push services accepted the offer."""
        try:
            targets = self._targets(technician_id, request_id)
        except (SQLAlchemyError, Unavailable):
            log.warning("push subscriptions could not be read; the offer goes by text", technician_id=technician_id)
            return False
        accepted = False
        for target in targets:
            accepted = self._send(target, offer_payload(target.reference, request_id, text)) or accepted
        return accepted

    def _targets(self, technician_id: int, request_id: int) -> list[_Target]:
        with autocommit(self.core.engine).connect() as c:
            rows = c.execute(_TARGETS, {"t": technician_id, "r": request_id, "now": utcnow()})
            return [_Target(*row) for row in rows]

    def _send(self, target: _Target, payload: str) -> bool:
        s = self.core.settings
        host = urlsplit(target.endpoint).hostname
        try:
            webpush({"endpoint": target.endpoint, "keys": {"p256dh": target.p256dh, "auth": target.auth}},
                    data=payload, vapid_private_key=self.vapid, vapid_claims={"sub": s.push_subject},
                    ttl=s.offer_timeout_s, timeout=s.push_timeout_s, headers={"Urgency": "high"},
                    requests_session=self.session)
        except WebPushException as e:
            status = e.response.status_code if e.response is not None else None
            if status in GONE:
                self._forget(target.id)
                log.info("push subscription gone; removed", subscription_id=target.id, status=status, host=host)
            else:
                log.warning("push refused", subscription_id=target.id, status=status, host=host)
            return False
        except (requests.RequestException, VapidException, ValueError) as e:
            log.warning("push failed", subscription_id=target.id, host=host, error=type(e).__name__)
            return False
        self._used(target.id)
        return True

    def _forget(self, subscription_id: int) -> None:
        self._write("DELETE FROM push_subscription WHERE id = :i", {"i": subscription_id})

    def _used(self, subscription_id: int) -> None:
        self._write("UPDATE push_subscription SET last_used_at = :now WHERE id = :i",
                    {"i": subscription_id, "now": utcnow()})

    def _write(self, statement: str, params: dict[str, object]) -> None:
        # Bookkeeping only: the push's outcome stands whether or not it is recorded.
        try:
            with autocommit(self.core.engine).connect() as c:
                c.execute(sa.text(statement), params)
        except (SQLAlchemyError, Unavailable):
            log.warning("push subscription bookkeeping failed", statement=statement.split()[0])


def offer_payload(reference: str, request_id: int, text: str) -> str:
    """What the phone's service worker (assets/tech-sw.js) receives: the notification and the page to open."""
    return json.dumps({"title": f"Job offer {reference}", "body": text, "url": links.TECH_PATH,
                       "reference": reference, "request_id": request_id})


def make_offer_push(core: Core) -> WebPushOffers | None:
    """The relay's offer push, or None when WEB_PUSH is off (offers go by text)."""
    return WebPushOffers(core) if core.settings.web_push else None
