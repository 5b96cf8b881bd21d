"""The links texts carry: tracking (`/track/<token>`), rating (`/rate/<token>`), the technician's page."""

from __future__ import annotations

import base64
import hashlib
import hmac
import uuid

from core.config import Settings

TRACK_PATH = "/track/"
RATE_PATH = "/rate/"
TECH_PATH = "/tech"


def rating_token(secret_key: str, public_id: uuid.UUID) -> str:
    """Like the tracking token (core.requests.public), under its own label: it names the request for rating
    only, is derivable (no column), and a tracking token is no rating token, nor the other way round."""
    mac = hmac.new(secret_key.encode(), b"rate:" + public_id.bytes, hashlib.sha256).digest()
    return base64.urlsafe_b64encode(public_id.bytes + mac[:12]).decode().rstrip("=")


def public_id_of_rating_token(secret_key: str, token: str) -> uuid.UUID | None:
    """The request a rating token was made for, or None for a token we did not make."""
    try:
        raw = base64.urlsafe_b64decode(token + "=" * (-len(token) % 4))
    except (ValueError, TypeError):
        return None
    if len(raw) != 28:
        return None
    public_id = uuid.UUID(bytes=raw[:16])
    return public_id if hmac.compare_digest(rating_token(secret_key, public_id), token) else None


def tracking_url(settings: Settings, token: str) -> str:
    return f"{settings.public_base_url}{TRACK_PATH}{token}"


def rating_url(settings: Settings, public_id: uuid.UUID) -> str:
    return f"{settings.public_base_url}{RATE_PATH}{rating_token(settings.secret_key, public_id)}"
