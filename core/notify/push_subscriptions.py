"""Technicians' push subscriptions: a phone turns offer alerts on or off, for its own technician only.

The technician is the caller's (`who`), never a field of the input: a subscription names an endpoint and keys,
not whose it is. It lasts as long as the login it was made under (logged out, expired, revoked: no more pushes,
the offer is texted). One row per endpoint (a phone that another technician signs in on and subscribes from moves to
them), at most `MAX_PER_TECHNICIAN` per technician (the oldest go: a phone replaced, a browser reinstalled).
"""

from __future__ import annotations

import binascii
from urllib.parse import urlsplit

import sqlalchemy as sa
from cryptography.hazmat.primitives.asymmetric import ec

from core.config import Settings
from core.context import Core
from core.errors import Forbidden, ValidationFailed
from core.infra.db import autocommit
from core.models import utcnow
from core.principal import Principal, Role
from core.tokens import token_hash
from core.vapid import application_server_key, b64url_decode, derived_private_key, parse_private_key

MAX_ENDPOINT_CHARS = 1024
MAX_PER_TECHNICIAN = 5

_UPSERT = sa.text(
    "INSERT INTO push_subscription (technician_id, endpoint, p256dh, auth, session_hash, created_at)"
    " VALUES (:t, :endpoint, :p256dh, :auth, :session, :now)"
    " ON CONFLICT (endpoint) DO UPDATE SET technician_id = excluded.technician_id, p256dh = excluded.p256dh,"
    " auth = excluded.auth, session_hash = excluded.session_hash,"
    " created_at = CASE WHEN push_subscription.technician_id = excluded.technician_id"
    " THEN push_subscription.created_at ELSE excluded.created_at END")
_TRIM = sa.text(
    "DELETE FROM push_subscription WHERE technician_id = :t AND id NOT IN (SELECT id FROM push_subscription"
    " WHERE technician_id = :t ORDER BY COALESCE(last_used_at, created_at) DESC, id DESC LIMIT :keep)")
_COUNT = sa.text("SELECT count(*) FROM push_subscription WHERE technician_id = :t")


def vapid_public_key(settings: Settings) -> str:
    """The key the page subscribes with (`applicationServerKey`)."""
    return application_server_key(signing_key(settings))


def signing_key(settings: Settings) -> ec.EllipticCurvePrivateKey:
    """VAPID_PRIVATE_KEY, else the key derived from SECRET_KEY (outside production: core.vapid)."""
    if settings.vapid_private_key is not None:
        return parse_private_key(settings.vapid_private_key.get_secret_value())
    return derived_private_key(settings.secret_key)


def subscribe_push(core: Core, who: Principal, session_token: str, endpoint: str, p256dh: str, auth: str) -> int:
    """This technician's phone takes offers by push while `session_token` (the caller's own login, which
    `who` came from) lives; returns how many phones of theirs do. Logging out of the phone stops it ringing."""
    tid = _own_technician(core, who)
    errors = {k: v for k, v in (("endpoint", endpoint_problem(core.settings, endpoint)),
                                ("p256dh", _p256dh_problem(p256dh)), ("auth", _auth_problem(auth))) if v}
    if errors:
        raise ValidationFailed(errors)
    with core.engine.begin() as c:
        c.execute(_UPSERT, {"t": tid, "endpoint": endpoint.strip(), "p256dh": p256dh.strip(), "auth": auth.strip(),
                            "session": token_hash(session_token), "now": utcnow()})
        c.execute(_TRIM, {"t": tid, "keep": MAX_PER_TECHNICIAN})
        return int(c.execute(_COUNT, {"t": tid}).scalar_one())


def unsubscribe_push(core: Core, who: Principal, endpoint: str) -> int:
    """This phone stops taking offers by push (only the caller's own subscription); returns how many remain."""
    tid = _own_technician(core, who)
    with core.engine.begin() as c:
        c.execute(sa.text("DELETE FROM push_subscription WHERE technician_id = :t AND endpoint = :e"),
                  {"t": tid, "e": endpoint.strip()})
        return int(c.execute(_COUNT, {"t": tid}).scalar_one())


def push_subscription_count(core: Core, who: Principal) -> int:
    """How many of the caller's phones take offers by push."""
    tid = _own_technician(core, who)
    with autocommit(core.engine).connect() as c:
        return int(c.execute(_COUNT, {"t": tid}).scalar_one())


def _own_technician(core: Core, who: Principal) -> int:
    who.require(Role.TECHNICIAN)
    if who.technician_id is None:
        raise Forbidden("This account is not linked to a technician.")
    if not core.settings.web_push:
        raise Forbidden("Offer alerts are off on this server: offers come by text.")
    return who.technician_id


def endpoint_problem(settings: Settings, endpoint: str) -> str:
    """Why the server will not post to this endpoint ("" when it will): a push service's https:// URL."""
    endpoint = endpoint.strip()
    if not endpoint:
        return "the browser gave no push endpoint"
    if len(endpoint) > MAX_ENDPOINT_CHARS:
        return f"a push endpoint is at most {MAX_ENDPOINT_CHARS} characters"
    try:
        parts = urlsplit(endpoint)
        parts.port  # noqa: B018 - raises on a port that is no number
    except ValueError:
        return "the push endpoint is not a URL"
    schemes = ("https", "http") if settings.push_allow_http else ("https",)
    if parts.scheme not in schemes or not parts.hostname:
        return "a push endpoint must be an https:// URL"
    if parts.username is not None or parts.password is not None:
        return "a push endpoint carries no user name or password"
    host = parts.hostname.lower()
    if not any(host == h or host.endswith("." + h) for h in settings.push_endpoint_hosts):
        return f"{host} is not a push service this server sends to (PUSH_ENDPOINT_HOSTS)"
    return ""


def _p256dh_problem(value: str) -> str:
    try:
        ec.EllipticCurvePublicKey.from_encoded_point(ec.SECP256R1(), b64url_decode(value))
    except (ValueError, binascii.Error):
        return "not the browser's P-256 public key (base64url of 65 bytes)"
    return ""


def _auth_problem(value: str) -> str:
    try:
        ok = len(b64url_decode(value)) == 16
    except (ValueError, binascii.Error):
        ok = False
    return "" if ok else "not the browser's auth secret (base64url of 16 bytes)"
