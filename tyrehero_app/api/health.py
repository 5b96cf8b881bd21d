"""Liveness and readiness."""

from __future__ import annotations

import sqlalchemy as sa
from fastapi import APIRouter
from fastapi.responses import JSONResponse, Response
from prometheus_client import CONTENT_TYPE_LATEST, REGISTRY, generate_latest

from core.metrics import StateCollector
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


@router.get("/metrics", include_in_schema=False)
def metrics() -> Response:
    """Prometheus metrics of this process."""
    global _collector_registered
    if not _collector_registered:
        REGISTRY.register(StateCollector(get_core()))
        _collector_registered = True
    return Response(generate_latest(REGISTRY), media_type=CONTENT_TYPE_LATEST)
