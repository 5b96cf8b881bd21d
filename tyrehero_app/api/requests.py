"""Public request endpoints: submit, track, cancel."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Header, Path, Request
from starlette.responses import Response

from core.infra.ratelimit import Limit, rate_key_for_address
from core.requests import intake as svc
from core.requests import tracking
from core.schemas import RequestCreate, RequestPublic, TrackingView
from tyrehero_app.api.deps import client_ip
from tyrehero_app.api.responses import model_response
from tyrehero_app.runtime import get_core

router = APIRouter(prefix="/api/v1/requests", tags=["requests"])
Token = Annotated[str, Path(min_length=1, max_length=64)]


@router.post("", status_code=201, response_model=RequestPublic, responses={409: {}, 422: {}, 503: {}})
def create_request(
    body: RequestCreate,
    request: Request,
    idempotency_key: Annotated[str | None, Header(max_length=128)] = None,
) -> Response:
    """Ask for help. A retry with the same Idempotency-Key and the same body returns the same request; the
    same key with another body is a 422 on `idempotency_key`. While a request from the same phone is open
    (duplicate window), any other submission for that phone is a 409 that says nothing about it."""
    return model_response(svc.submit_request(get_core(), body, idempotency_key, client=client_ip(request)), 201)


def _tracking_allowed(request: Request) -> None:
    s = get_core().settings
    get_core().limiter.hit(
        f"track-ip:{rate_key_for_address(client_ip(request))}",
        Limit(s.rate_limit_tracking_per_ip, 60),
        "Too many look-ups from this connection: wait a moment.",
    )


@router.get("/track/{tracking_token}", response_model=TrackingView, responses={404: {}})
def track_request(tracking_token: Token, request: Request) -> Response:
    """The customer's view: status, ETA, technician, position, timeline. No van once closed; 404 a day later."""
    _tracking_allowed(request)
    return model_response(tracking.track(get_core(), tracking_token))


@router.get("/track/{tracking_token}/live.geojson", include_in_schema=False)
def track_geojson(tracking_token: Token, request: Request) -> dict:
    """The customer's point and the van, for the live map."""
    _tracking_allowed(request)
    v = tracking.track(get_core(), tracking_token)
    feats = [_point("customer", v.customer_position.lat, v.customer_position.lng, "#2563eb", "You")]
    if v.technician_position and v.technician:
        feats.append(_point("van", v.technician_position.lat, v.technician_position.lng, "#f59e0b",
                            f"{v.technician.first_name} · {v.technician.van}", radius=11))
    return {"type": "FeatureCollection", "features": feats}


def _point(fid: str, lat: float, lng: float, color: str, label: str, radius: int = 9) -> dict:
    return {"type": "Feature", "geometry": {"type": "Point", "coordinates": [lng, lat]},
            "properties": {"id": fid, "color": color, "label": label, "radius": radius}}


@router.post("/track/{tracking_token}/cancel", response_model=TrackingView, responses={404: {}, 409: {}})
def cancel_request(tracking_token: Token) -> TrackingView:
    """Cancel while the technician is not yet on site."""
    return tracking.cancel_by_token(get_core(), tracking_token)
