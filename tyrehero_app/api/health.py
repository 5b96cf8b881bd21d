"""Liveness, readiness and metrics."""

from __future__ import annotations

import hmac

import sqlalchemy as sa
from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse, Response
from prometheus_client import CONTENT_TYPE_LATEST, REGISTRY, generate_latest

from core.infra.addresses import in_networks, parse_address
from core.infra.metrics import StateCollector
from tyrehero_app.api.deps import client_ip
from tyrehero_app.runtime import get_core

router = APIRouter(tags=["ops"])


@router.get("/health/live")
async def live() -> dict[str, str]:
    """The process answers: from its event loop, so a liveness probe is not queued behind busy threads."""
    return {"status": "alive"}


@router.get("/health")
def health() -> JSONResponse:
    """Ready when PostgreSQL and Redis answer; 503 names the failing check."""
    core = get_core()
    checks: dict[str, bool] = {}
    errors: dict[str, str] = {}
    try:
        with core.engine.connect() as c:
            c.execute(sa.text("SELECT 1"))
        checks["database"] = True
    except Exception as e:  # any failure means not ready
        checks["database"] = False
        errors["database"] = e.__class__.__name__
    try:
        checks["redis"] = bool(core.redis.ping())
    except Exception as e:
        checks["redis"] = False
        errors["redis"] = e.__class__.__name__
    ok = all(checks.values())
    body = {"status": "ok" if ok else "unavailable", "checks": checks}
    if errors:
        body["errors"] = errors
    return JSONResponse(status_code=200 if ok else 503, content=body)


_collector_registered = False


def metrics_refusal(request: Request) -> JSONResponse | None:
    """None when the caller may read /metrics: the bearer METRICS_TOKEN, or an address in METRICS_ALLOW_FROM.

    The figures name routes, queue lengths and fleet sizes: useful to whoever plans an attack on a night
    with few vans, so they are not public. A wrong token is refused even from an allowed address.
    """
    settings = get_core().settings
    token = settings.metrics_token.get_secret_value().encode() if settings.metrics_token else b""
    auth = request.headers.get("authorization", "")
    if auth[:7].lower() == "bearer " and token:
        if hmac.compare_digest(auth[7:].strip().encode(), token):
            return None
        return _refuse(401, "That metrics token is not valid.")
    ip = parse_address(client_ip(request))
    if ip is not None and in_networks(ip, settings.metrics_allow_from or ()):
        return None
    if token:
        return _refuse(401, "Metrics need the bearer token (METRICS_TOKEN).")
    return _refuse(403, "Metrics are not served to this address (METRICS_ALLOW_FROM).")


def _refuse(status: int, detail: str) -> JSONResponse:
    headers = {"WWW-Authenticate": "Bearer"} if status == 401 else None
    return JSONResponse({"detail": detail}, status_code=status, headers=headers)


@router.get("/metrics", include_in_schema=False, response_model=None)
def metrics(request: Request) -> Response:
    """Prometheus metrics of this process, for METRICS_TOKEN holders and METRICS_ALLOW_FROM addresses."""
    global _collector_registered
    if (refused := metrics_refusal(request)) is not None:
        return refused
    if not _collector_registered:
        core = get_core()
        REGISTRY.register(StateCollector(core.engine, core.settings.sla_minutes, core.index,
                                          core.settings.h3_coarse_resolution))
        _collector_registered = True
    return Response(generate_latest(REGISTRY), media_type=CONTENT_TYPE_LATEST)
