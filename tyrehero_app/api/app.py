"""The FastAPI app that Reflex mounts: our routes match before Reflex's own."""

from __future__ import annotations

from fastapi import FastAPI
from starlette.datastructures import Headers
from starlette.middleware.cors import CORSMiddleware
from starlette.responses import JSONResponse
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from core.config import Settings, get_settings
from core.notify.relay import STATUS_CALLBACK_PATH
from tyrehero_app.api import (
    admin,
    auth,
    customer_maps,
    dispatch,
    errors,
    health,
    maps,
    notify,
    push,
    ratings,
    requests,
    technicians,
)
from tyrehero_app.api.middleware import EdgeMiddleware
from tyrehero_app.api.origins import OriginGuard
from tyrehero_app.api.shell import ShellMiddleware
from tyrehero_app.api.slowlog import SlowRequestLog

MAX_BODY_BYTES = 64 * 1024


class BodyLimit:
    """Refuse oversized or non-JSON bodies before parsing them.

    Plain ASGI rather than BaseHTTPMiddleware: that one runs every request through a task group and
    memory streams, a cost paid on each of the hundreds of calls a second the API takes under load.
    """

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["method"] not in ("POST", "PUT", "PATCH"):
            await self.app(scope, receive, send)
            return
        path = scope["path"]
        if not path.startswith(("/api/", "/auth/")):
            await self.app(scope, receive, send)
            return
        headers = Headers(scope=scope)
        length = headers.get("content-length")
        if length and length.isdigit() and int(length) > MAX_BODY_BYTES:
            await _too_large(scope, receive, send)
            return
        chunks: list[bytes] = []
        size = 0
        while True:
            message = await receive()
            if message["type"] == "http.disconnect":
                return
            chunk = message.get("body", b"")
            size += len(chunk)
            if size > MAX_BODY_BYTES:
                await _too_large(scope, receive, send)
                return
            chunks.append(chunk)
            if not message.get("more_body", False):
                break
        body = b"".join(chunks)
        form_route = path.startswith("/auth/") or path == STATUS_CALLBACK_PATH  # Twilio posts a form
        if body and not form_route and not headers.get("content-type", "").startswith("application/json"):
            await JSONResponse(status_code=415, content={"detail": "Send JSON with Content-Type: application/json."})(
                scope, receive, send)
            return
        replayed = False

        async def replay() -> Message:
            nonlocal replayed
            if not replayed:
                replayed = True
                return {"type": "http.request", "body": body, "more_body": False}
            return await receive()

        await self.app(scope, replay, send)


async def _too_large(scope: Scope, receive: Receive, send: Send) -> None:
    await JSONResponse(status_code=413, content={"detail": "The body is too large (64 KB at most)."})(
        scope, receive, send
    )


def create_api(settings: Settings | None = None) -> FastAPI:
    """The API with its middleware; `settings` defaults to the process's (tests pass the core's)."""
    settings = settings or get_settings()
    api = FastAPI(
        title="TyreHero API",
        version="1.0.0",
        description="Emergency mobile tyre service: requests, tracking, technicians and dispatch.",
        docs_url="/docs",
        openapi_url="/openapi.json",
    )
    errors.install(api)
    _document_errors(api)
    # Outermost last: headers and metrics, the slow-request log, CORS, cross-site refusal, the body limit.
    api.add_middleware(ShellMiddleware)  # the customer pages' HTML: first paint without the big stylesheet
    api.add_middleware(BodyLimit)
    api.add_middleware(OriginGuard, settings=settings)
    # Reflex wraps this app in its own CORSMiddleware with the same list (rxconfig); this one serves the
    # API-only process (standalone.py). Nothing but CORS_ORIGINS may read answers with credentials.
    api.add_middleware(CORSMiddleware, allow_origins=list(settings.cors_origins), allow_credentials=True,
                       allow_methods=["GET", "POST", "PUT", "PATCH", "DELETE"],
                       allow_headers=["Authorization", "Content-Type", "Idempotency-Key", "X-Request-ID"])
    api.add_middleware(SlowRequestLog, settings=settings)
    api.add_middleware(EdgeMiddleware, settings=settings)
    # Routes are matched in order, router by router (twice per call in FastAPI's included routers),
    # so the hottest come first: technicians' positions and jobs, then requests and tracking. No two
    # routers share a path, so the order changes nothing else.
    api.include_router(technicians.router)
    api.include_router(requests.router)
    api.include_router(ratings.router)
    api.include_router(dispatch.router)
    api.include_router(health.router)
    api.include_router(maps.router)
    api.include_router(customer_maps.router)
    api.include_router(auth.router)
    api.include_router(admin.router)
    api.include_router(notify.router)
    api.include_router(push.router)
    maps.mount_vendor(api)
    return api


def _document_errors(api: FastAPI) -> None:
    """Describe the 422 body we really send: {"detail": [{"field", "message"}]}."""

    def openapi() -> dict:
        if api.openapi_schema:
            return api.openapi_schema
        from fastapi.openapi.utils import get_openapi

        spec = get_openapi(title=api.title, version=api.version, description=api.description, routes=api.routes)
        schemas = spec.setdefault("components", {}).setdefault("schemas", {})
        schemas["ValidationError"] = {
            "type": "object", "required": ["field", "message"],
            "properties": {"field": {"type": "string"}, "message": {"type": "string"}},
        }
        schemas["HTTPValidationError"] = {
            "type": "object", "required": ["detail"],
            "properties": {"detail": {"type": "array", "items": {"$ref": "#/components/schemas/ValidationError"}}},
        }
        api.openapi_schema = spec
        return spec

    api.openapi = openapi  # type: ignore[method-assign]
