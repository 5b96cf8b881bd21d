"""A submission seen before: the same client's retry (its Idempotency-Key with the same body), or
someone else submitting for a phone that has a request open. Only the client that made a request
learns its tracking link."""

from __future__ import annotations

import hmac
from typing import Any

from core.context import Core
from core.errors import ValidationFailed
from core.schemas import RequestCreate

IDEMPOTENCY_FIELD = "idempotency_key"
KEY_REUSED = "This Idempotency-Key was already used with a different request body."
KEY_FROM_BEFORE_FINGERPRINTS = "This Idempotency-Key was already used for an earlier request: send a new key."


def check_key(idempotency_key: str | None) -> None:
    """An Idempotency-Key, when sent, is 1-128 characters."""
    if idempotency_key is not None and not (1 <= len(idempotency_key) <= 128):
        raise ValidationFailed({IDEMPOTENCY_FIELD: "must be 1-128 characters"})


def body_fingerprint(core: Core, data: RequestCreate) -> str:
    """A keyed hash of the validated body, stored with its Idempotency-Key.

    Keyed with the phone vault's look-up key, not a plain sha256: the body holds the number, and
    every other field of it sits in the row in clear, so a plain hash would let whoever reads the
    table find the number by trying every UK mobile. This is no weaker than the row's phone_hash.
    """
    return core.vault.lookup_hash("request-body:" + data.canonical_json())


def already_open_message(core: Core) -> str:
    """What a second submission for a number with an open request is told.

    It names nothing of the open request. The link goes by text to that number only (core.requests.resend,
    at most once per RESEND_COOLDOWN_S), so whoever typed someone else's number learns nothing.
    """
    return (f"A request from this number is already open: we've texted its tracking link to that number. "
            f"Or call us on {core.settings.support_phone} and we'll help.")


def check_replay(row: Any, fingerprint: str | None) -> None:
    """A stored request goes back to the client that made it only: its key and the same body, else refused."""
    if row.idempotency_fingerprint is None:
        # Stored before fingerprints (revision 0007): whether the body is the same cannot be told,
        # and handing the request over on the key alone is what this check exists to stop.
        raise ValidationFailed({IDEMPOTENCY_FIELD: KEY_FROM_BEFORE_FINGERPRINTS})
    if fingerprint is None or not hmac.compare_digest(row.idempotency_fingerprint, fingerprint):
        raise ValidationFailed({IDEMPOTENCY_FIELD: KEY_REUSED})
