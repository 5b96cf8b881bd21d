"""The FastAPI app that Reflex mounts: our routes match before Reflex's own."""

from __future__ import annotations

from fastapi import FastAPI
from starlette.middleware.base import BaseHTTPMiddleware
from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from tyrehero_app.api import admin, auth, dispatch, errors, health, maps, requests, technicians
from tyrehero_app.api.middleware import EdgeMiddleware

MAX_BODY_BYTES = 64 * 1024


class BodyLimit(BaseHTTPMiddleware):
    """Refuse oversized bodies before parsing them."""

    async def dispatch(self, request: Request, call_next) -> Response:  # type: ignore[no-untyped-def]
        if request.method in ("POST", "PUT", "PATCH") and request.url.path.startswith(("/api/", "/auth/")):
            length = request.headers.get("content-length")
            if length and length.isdigit() and int(length) > MAX_BODY_BYTES:
                return JSONResponse(status_code=413, content={"detail": "The body is too large (64 KB at most)."})
            body = await request.body()
            if len(body) > MAX_BODY_BYTES:
                return JSONResponse(status_code=413, content={"detail": "The body is too large (64 KB at most)."})
            ctype = request.headers.get("content-type", "")
            form_route = request.url.path.startswith("/auth/")
            if body and not form_route and not ctype.startswith("application/json"):
                return JSONResponse(status_code=415, content={"detail": "Send JSON with Content-Type: application/json."})
        return await call_next(request)


def create_api() -> FastAPI:
    api = FastAPI(
        title="TyreHero API",
        version="1.0.0",
        description="Emergency mobile tyre service: requests, tracking, technicians and dispatch.",
        docs_url="/docs",
        openapi_url="/openapi.json",
    )
    errors.install(api)
    _document_errors(api)
    api.add_middleware(BodyLimit)
    api.add_middleware(EdgeMiddleware)
    api.include_router(health.router)
    api.include_router(requests.router)
    api.include_router(maps.router)
    api.include_router(auth.router)
    api.include_router(technicians.router)
    api.include_router(dispatch.router)
    api.include_router(admin.router)
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
