"""ASGI middleware around the whole app (API and pages): request id, metrics, security headers."""

from __future__ import annotations

import functools
import time
import uuid

import structlog
from fastapi.routing import APIRoute

from core.config import get_settings
from core.metrics import HTTP_LATENCY


def _csp() -> str:
    tiles = get_settings().tile_url.split("/{")[0]
    tile_origin = "/".join(tiles.split("/")[:3]) if tiles.startswith("http") else ""
    # Reflex evaluates call_script with eval and folium map pages use inline scripts: both need to run.
    return "; ".join([
        "default-src 'self'",
        "script-src 'self' 'unsafe-inline' 'unsafe-eval'",
        "style-src 'self' 'unsafe-inline'",
        f"img-src 'self' data: blob: {tile_origin}".strip(),
        "font-src 'self' data:",
        "connect-src 'self'",
        "frame-src 'self'",
        "frame-ancestors 'self'",
        "object-src 'none'",
        "base-uri 'self'",
        "form-action 'self'",
    ])


class EdgeMiddleware:
    """One pass per HTTP request; WebSocket and lifespan scopes go straight through."""

    def __init__(self, app) -> None:  # type: ignore[no-untyped-def]
        self.app = app
        self.csp = _csp().encode()

    async def __call__(self, scope, receive, send) -> None:  # type: ignore[no-untyped-def]
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        headers = dict(scope.get("headers") or [])
        rid = headers.get(b"x-request-id", b"").decode()[:64] or uuid.uuid4().hex
        structlog.contextvars.clear_contextvars()
        structlog.contextvars.bind_contextvars(request_id=rid)
        https = scope.get("scheme") == "https" or headers.get(b"x-forwarded-proto") == b"https"
        status = {"code": 500}
        start = time.perf_counter()

        async def send_wrapped(message) -> None:  # type: ignore[no-untyped-def]
            if message["type"] == "http.response.start":
                status["code"] = message["status"]
                extra = [
                    (b"x-request-id", rid.encode()),
                    (b"x-content-type-options", b"nosniff"),
                    (b"referrer-policy", b"no-referrer"),
                    (b"content-security-policy", self.csp),
                    (b"x-frame-options", b"SAMEORIGIN"),
                ]
                if https:
                    extra.append((b"strict-transport-security", b"max-age=31536000; includeSubDomains"))
                existing = {k.lower() for k, _ in message.get("headers", [])}
                message["headers"] = list(message.get("headers", [])) + [h for h in extra if h[0] not in existing]
            await send(message)

        try:
            await self.app(scope, receive, send_wrapped)
        finally:
            route = scope.get("route")
            # Route templates only (bounded label values); pages and assets share one label.
            path = route.path if isinstance(route, APIRoute) else "pages"
            _latency(scope["method"], path, status["code"]).observe(time.perf_counter() - start)


@functools.cache
def _latency(method: str, route: str, status: int):  # type: ignore[no-untyped-def]
    """The histogram's child for one label set, looked up once (labels() takes a lock and builds keys each call)."""
    return HTTP_LATENCY.labels(method, route, str(status))
