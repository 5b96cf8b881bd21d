"""The `twilio` provider, on Twilio's own SDK (`twilio` package), and its signed delivery callbacks.

Twilio's Messages API has no idempotency key. What stands in for one: the relay leases a message
(`sending`) before it calls `send`, and keeps a keyed digest of the text. When an attempt's outcome is lost
(a timeout, a 5xx, the process killed between the call and the mark), the next attempt first lists the
recipient's recent messages from our number (`find`) and takes one whose body matches the digest as the
one sent. The status callback also carries our message id (`?m=<id>` in its URL), so a message Twilio took
is marked as soon as Twilio reports it, whatever happened to our process. What is left: a text that Twilio
accepted but does not list yet when `find` asks (its list is read within the lease, a minute at least,
after the attempt) would be sent a second time."""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping
from datetime import UTC, datetime
from typing import Any

import requests
from twilio.base.exceptions import TwilioException, TwilioRestException
from twilio.http.http_client import TwilioHttpClient
from twilio.http.response import Response
from twilio.request_validator import RequestValidator
from twilio.rest import Client

from core.notify.providers.base import OutgoingText, SendFailed, SendResult

TWILIO_API = "https://api.twilio.com"
# Twilio's message statuses, as ours (core.notify.outbox.MessageStatus).
STATUSES = {
    "accepted": "queued", "scheduled": "queued", "queued": "queued", "sending": "queued", "sent": "sent",
    "delivered": "delivered", "read": "delivered", "undelivered": "failed", "failed": "failed", "canceled": "failed",
}
# The SDK logs each request's parameters (the recipient's number, the text) at INFO: keep that out of our logs.
_quiet = logging.getLogger("tyrehero.notify.twilio_http")
_quiet.setLevel(logging.WARNING)


class _HttpClient(TwilioHttpClient):  # type: ignore[misc]  # the SDK is untyped
    """The SDK's own HTTP client, sent to `base_url` instead of api.twilio.com (a proxy, or a test's stand-in)."""

    def __init__(self, base_url: str, timeout: float) -> None:
        super().__init__(timeout=timeout, logger=_quiet)
        self.base_url = base_url.rstrip("/")

    def request(self, method: str, url: str, *args: Any, **kwargs: Any) -> Response:
        if self.base_url and url.startswith(TWILIO_API):
            url = self.base_url + url[len(TWILIO_API):]
        return super().request(method, url, *args, **kwargs)


class TwilioProvider:
    name = "twilio"

    def __init__(self, account_sid: str, auth_token: str, sender: str, *, base_url: str = "",
                 timeout_s: float = 10.0) -> None:
        self.sender = sender
        self.client = Client(account_sid, auth_token, http_client=_HttpClient(base_url, timeout_s))

    def send(self, text: OutgoingText) -> SendResult:
        try:
            kwargs: dict[str, Any] = {"to": text.to, "from_": self.sender, "body": text.body}
            if text.status_callback:
                kwargs["status_callback"] = text.status_callback
            m = self.client.messages.create(**kwargs)
        except TwilioRestException as e:
            raise _failed(e) from None
        except requests.exceptions.ConnectTimeout as e:  # never reached Twilio: nothing can have been sent
            raise SendFailed(f"twilio unreachable: {type(e).__name__}") from None
        except (requests.RequestException, TwilioException) as e:
            raise SendFailed(f"twilio call lost: {type(e).__name__}", in_doubt=True) from None
        return SendResult(str(m.sid), STATUSES.get(str(m.status), "queued"))

    def find(self, text: OutgoingText, since: datetime, matches: Callable[[str], bool]) -> SendResult | None:
        try:
            recent = self.client.messages.list(to=text.to, from_=self.sender, limit=20)
        except TwilioRestException as e:
            raise _failed(e) from None
        except (requests.RequestException, TwilioException) as e:
            raise SendFailed(f"twilio list lost: {type(e).__name__}", in_doubt=True) from None
        for m in recent:
            created = m.date_created
            if created is not None and created.replace(tzinfo=created.tzinfo or UTC) < since:
                continue
            if matches(str(m.body or "")):
                return SendResult(str(m.sid), STATUSES.get(str(m.status), "queued"))
        return None


def _failed(e: TwilioRestException) -> SendFailed:
    """4xx but 429: Twilio refused this message (a bad number, our account); retrying will not help.
    5xx: Twilio's own trouble, after which it may or may not have taken the message."""
    reason = f"twilio {e.status} (code {e.code}): {e.msg}"
    if e.status >= 500:
        return SendFailed(reason, in_doubt=True)
    return SendFailed(reason, permanent=e.status != 429)


def signature_ok(auth_token: str, url: str, params: Mapping[str, str], signature: str | None) -> bool:
    """Whether `signature` (X-Twilio-Signature) is Twilio's for a callback to `url` with these form fields."""
    if not signature or not auth_token:
        return False
    return bool(RequestValidator(auth_token).validate(url, dict(params), signature))
