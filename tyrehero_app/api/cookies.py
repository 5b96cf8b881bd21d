"""How the session cookie is set: `Secure` whenever the browser reached us over HTTPS, and always in production."""

from __future__ import annotations

from starlette.requests import Request

from core.config import Environment, Settings
from core.infra.addresses import in_networks, parse_address


def cookie_secure(settings: Settings, request: Request) -> bool:
    """True in production whatever the request looks like: a TLS-terminating proxy that forgets
    X-Forwarded-Proto must not make the session cookie travel in clear. Elsewhere, HTTPS as seen by us
    or as told by a trusted proxy."""
    if settings.environment == Environment.production or request.url.scheme == "https":
        return True
    peer = parse_address(request.client.host) if request.client else None
    return (peer is not None and in_networks(peer, settings.trusted_proxies)
            and request.headers.get("x-forwarded-proto", "").strip().lower() == "https")
