"""ASGI middleware around the whole app (API and pages): request id, metrics, security headers.

Cross-site refusal lives in `origins.OriginGuard`, the policies themselves in `csp`."""

from __future__ import annotations

import functools
import time
import uuid

import structlog
from fastapi.routing import APIRoute

from core.config import Settings, get_settings
from core.infra.metrics import HTTP_LATENCY
from tyrehero_app.api.csp import page_csp


class EdgeMiddleware:
    """One pass per HTTP request; WebSocket and lifespan scopes go straight through."""

    def __init__(self, app, settings: Settings | None = None) -> None:  # type: ignore[no-untyped-def]
        self.app = app
        # A response that brings its own policy (the map pages) keeps it.
        self.csp = page_csp(settings or get_settings()).encode()

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
