"""Cross-site refusal (CSRF) for everything a browser can be made to send with our session cookie.

A page on another site can make a logged-in staff member's browser post a form to us, or open our
Socket.IO connection, and the browser attaches the session cookie. What it cannot forge are `Origin`
and `Sec-Fetch-Site`, so those decide: a state-changing request that the session cookie authenticates
(a bearer token is never sent by a browser on its own), the login and logout forms (login CSRF), and
every WebSocket upgrade must come from our own origin or from one listed in CORS_ORIGINS. Clients that
send neither header (phones' apps, curl, the attack tests' Socket.IO client) are not browsers acting
for someone else and pass; the server-side checks behind this guard still apply to them.
"""

from __future__ import annotations

from starlette.responses import JSONResponse
from starlette.types import ASGIApp, Receive, Scope, Send

from core.config import Settings, normalise_origin
from tyrehero_app.api.deps import SESSION_COOKIE

UNSAFE_METHODS = frozenset({"POST", "PUT", "PATCH", "DELETE"})
FORM_ROUTES = frozenset({"/auth/login", "/auth/logout"})  # checked with or without a cookie: login CSRF
_COOKIE_PAIR = f"{SESSION_COOKIE}=".encode()
_DEFAULT_PORTS = {"http": ":80", "https": ":443"}
REFUSED = "Refused: this request came from another site's page. Open TyreHero itself and try again."


def is_foreign(origin: str | None, fetch_site: str | None, host: str | None, allowed: frozenset[str]) -> bool:
    """Whether a browser says the request comes from a page that is neither ours (same host and port as
    `host`) nor one of the `allowed` origins (normalised, as in Settings.cors_origins). An opaque origin
    ("null") is ours only when Sec-Fetch-Site says same-origin."""
    if origin is not None:
        try:
            canonical = normalise_origin(origin)
        except ValueError:
            # "null": sent by sandboxed frames and other sites' redirects, but also by our own pages' form posts
            # and same-origin fetches, because we send Referrer-Policy: no-referrer. The fetch metadata, which
            # no page can set, tells them apart.
            return (fetch_site or "").strip().lower() != "same-origin"
        if canonical in allowed:
            return False
        scheme, _, netloc = canonical.partition("://")
        return not host or netloc != _without_default_port(host.strip().lower(), scheme)
    return (fetch_site or "").strip().lower() in ("cross-site", "same-site")


def _without_default_port(host: str, scheme: str) -> str:
    default = _DEFAULT_PORTS[scheme]
    return host[: -len(default)] if host.endswith(default) else host


class OriginGuard:
    """Plain ASGI (no task group per request): a GET costs one set lookup; an unsafe method one pass
    over the headers."""

    def __init__(self, app: ASGIApp, settings: Settings) -> None:
        self.app = app
        self.allowed = frozenset(settings.cors_origins)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        kind = scope["type"]
        if kind == "http" and scope["method"] in UNSAFE_METHODS:
            origin, fetch_site, host, cookie_auth = _read(scope)
            if (cookie_auth or scope["path"] in FORM_ROUTES) and is_foreign(origin, fetch_site, host, self.allowed):
                await JSONResponse({"detail": REFUSED}, status_code=403)(scope, receive, send)
                return
        elif kind == "websocket":
            origin, fetch_site, host, _ = _read(scope)
            if is_foreign(origin, fetch_site, host, self.allowed):
                await send({"type": "websocket.close", "code": 1008})  # before accept: the upgrade gets a 403
                return
            if origin is not None:
                # Checked here, so Socket.IO need not check again: Reflex hands CORS_ORIGINS to it as its
                # whole list of accepted origins, which would refuse our own pages whenever the list is set.
                scope = dict(scope, headers=[(k, v) for k, v in scope["headers"] if k != b"origin"])
        await self.app(scope, receive, send)


def _read(scope: Scope) -> tuple[str | None, str | None, str | None, bool]:
    """Origin, Sec-Fetch-Site, Host, and whether the session cookie (not a bearer token) authenticates it."""
    origin = fetch_site = host = None
    cookie = bearer = False
    for name, value in scope["headers"]:
        if name == b"origin":
            origin = value.decode("latin-1")
        elif name == b"sec-fetch-site":
            fetch_site = value.decode("latin-1")
        elif name == b"host":
            host = value.decode("latin-1")
        elif name == b"cookie":
            cookie = cookie or _COOKIE_PAIR in value
        elif name == b"authorization":
            bearer = value[:7].lower() == b"bearer "
    return origin, fetch_site, host, cookie and not bearer
