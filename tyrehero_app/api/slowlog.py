"""The slow-request log: a request slower than SLOW_REQUEST_MS is logged with its route and where its time went."""

from __future__ import annotations

import time

import structlog
from starlette.types import ASGIApp, Receive, Scope, Send

from core.config import Settings, get_settings
from core.infra import timing

_log = structlog.get_logger("tyrehero.slow")


class SlowRequestLog:
    """Plain ASGI (see `BodyLimit`): time each HTTP request, and sum its database and Redis waits.

    Logs `slow_request` with the route's template (never the path: tracking links carry tokens), the status,
    and `total_ms`, `db_ms`, `redis_ms`; the rest of the total is our own code, queueing for a worker thread
    included. Inside the request-id middleware, so the line carries the request's id.
    """

    def __init__(self, app: ASGIApp, settings: Settings | None = None) -> None:
        self.app = app
        self.threshold_s = (settings or get_settings()).slow_request_ms / 1000

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        status = 0

        async def send_status(message) -> None:  # type: ignore[no-untyped-def]
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
            await send(message)

        start = time.perf_counter()
        with timing.measuring() as spent:
            try:
                await self.app(scope, receive, send_status)
            finally:
                total = time.perf_counter() - start
                if total > self.threshold_s:
                    # A matched route's template; Reflex's pages and assets share one name.
                    route = getattr(scope.get("route"), "path", None) or "pages"
                    _log.warning("slow_request", method=scope["method"], route=route,
                                 status=status, total_ms=round(total * 1000, 1), db_ms=round(spent.db_s * 1000, 1),
                                 redis_ms=round(spent.redis_s * 1000, 1))
