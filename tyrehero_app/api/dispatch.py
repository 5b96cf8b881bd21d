"""The dispatcher's API: queue, fleet, request detail and actions, map layers. Dispatcher or admin only."""

from __future__ import annotations

from fastapi import APIRouter, Request, Response
from pydantic import BaseModel, Field

from core.dispatch import console, manual, maplayers
from tyrehero_app.api.deps import CurrentDispatcher
from tyrehero_app.runtime import get_core

router = APIRouter(prefix="/api/v1/dispatch", tags=["dispatch"], responses={401: {}, 403: {}})


class AssignIn(BaseModel):
    technician_id: int
    from_technician_id: int | None = Field(None, description="who the dispatcher saw on the job (null if waiting)")


class CancelIn(BaseModel):
    reason: str = Field(min_length=1, max_length=200)


class NoteIn(BaseModel):
    text: str = Field(min_length=1, max_length=500)


@router.get("/requests", response_model=list[console.QueueItem])
def get_queue(who: CurrentDispatcher) -> list[console.QueueItem]:
    """Open requests, most urgent first, with SLA timers."""
    return console.queue(get_core(), who)


@router.get("/technicians", response_model=list[console.FleetItem])
def get_fleet(who: CurrentDispatcher) -> list[console.FleetItem]:
    return console.fleet(get_core(), who)


@router.get("/requests/{request_id}", response_model=console.RequestDetail, responses={404: {}})
def get_request(request_id: int, who: CurrentDispatcher) -> console.RequestDetail:
    """Details, timeline and suggested technicians ranked by ETA."""
    return console.request_detail(get_core(), who, request_id)


@router.post("/requests/{request_id}/assign", response_model=console.RequestDetail, responses={404: {}, 409: {}})
def post_assign(request_id: int, body: AssignIn, who: CurrentDispatcher) -> console.RequestDetail:
    """Assign a waiting request, or reassign to another technician. 409 if someone changed it first."""
    manual.assign(get_core(), who, request_id, body.technician_id, from_technician_id=body.from_technician_id)
    return console.request_detail(get_core(), who, request_id)


@router.post("/requests/{request_id}/unassign", response_model=console.RequestDetail, responses={404: {}, 409: {}})
def post_unassign(request_id: int, who: CurrentDispatcher) -> console.RequestDetail:
    manual.unassign(get_core(), who, request_id)
    return console.request_detail(get_core(), who, request_id)


@router.post("/requests/{request_id}/cancel", response_model=console.RequestDetail, responses={404: {}, 409: {}})
def post_cancel(request_id: int, body: CancelIn, who: CurrentDispatcher) -> console.RequestDetail:
    manual.cancel(get_core(), who, request_id, body.reason)
    return console.request_detail(get_core(), who, request_id)


@router.post("/requests/{request_id}/notes", response_model=console.RequestDetail, responses={404: {}})
def post_note(request_id: int, body: NoteIn, who: CurrentDispatcher) -> console.RequestDetail:
    manual.add_note(get_core(), who, request_id, body.text)
    return console.request_detail(get_core(), who, request_id)


class EventOut(BaseModel):
    kind: str
    request_id: int | None
    technician_id: int | None
    at: str


@router.get("/events", response_model=list[EventOut])
def get_events(who: CurrentDispatcher, since: str | None = None) -> list[EventOut]:
    """Domain events this process heard from every process (newest last), optionally after a time."""
    return [EventOut(kind=e.kind, request_id=e.request_id, technician_id=e.technician_id, at=e.at)
            for e in get_core().listener().since(since)]


@router.get("/alerts", response_model=list[console.Alert])
def get_alerts(who: CurrentDispatcher) -> list[console.Alert]:
    return console.alerts(get_core(), who)


@router.get("/figures", response_model=console.Figures)
def get_figures(who: CurrentDispatcher) -> console.Figures:
    return console.figures(get_core(), who)


class GeoJSONResponse(Response):
    media_type = "application/geo+json"


_GEO = {"response_class": GeoJSONResponse,
        "responses": {200: {"content": {"application/geo+json": {"schema": {"type": "object"}}}}, 304: {}}}


def _geojson(request: Request, body: str, etag: str) -> Response:
    tag = f'"{etag}"'
    headers = {"ETag": tag, "Cache-Control": "no-cache"}
    if tag in _none_match(request.headers.get("if-none-match", "")):
        return Response(status_code=304, headers=headers)
    return GeoJSONResponse(body, headers=headers)


def _none_match(header: str) -> set[str]:
    """The tags of If-None-Match, compared weakly (RFC 9110): a proxy that gzips the layer (nginx) turns our
    strong tag into W/"...", and the browser sends that one back."""
    return {t.strip().removeprefix("W/") for t in header.split(",") if t.strip()}


@router.get("/live.geojson", **_GEO)
def get_live(request: Request, who: CurrentDispatcher) -> Response:
    """Technicians on shift and open requests (ETag; 304 when unchanged)."""
    return _geojson(request, *maplayers.live_layer(get_core(), who))


@router.get("/hexes.geojson", **_GEO)
def get_hexes(request: Request, who: CurrentDispatcher) -> Response:
    """Per H3 cell: available technicians, open requests, best ETA, coverage risk."""
    return _geojson(request, *maplayers.hexes_layer(get_core(), who))
