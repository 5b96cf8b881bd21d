"""The technician's API: position, shift status, current job and job steps. Only their own job."""

from __future__ import annotations

from typing import Literal

from fastapi import APIRouter
from pydantic import BaseModel, Field
from starlette.responses import Response

from core.schemas import JobView, PositionReport, StatusIn
from core.states import TechStatus
from core.technicians import jobs as svc
from tyrehero_app.api.deps import CurrentTechnician
from tyrehero_app.api.responses import model_response
from tyrehero_app.runtime import get_core

router = APIRouter(tags=["technicians"])


class Accepted(BaseModel):
    accepted: int
    job_id: int | None = Field(None, description="the technician's active job (offered or under way): "
                                                 "GET /api/v1/technicians/me/job when it is new")


class JobOut(BaseModel):
    job: JobView | None


class StatusOut(BaseModel):
    status: str


class JobStepIn(BaseModel):
    fitted: str = Field("", max_length=200)
    note: str = Field("", max_length=500)


@router.post("/api/v1/technicians/me/location", response_model=Accepted, responses={401: {}, 403: {}, 422: {}})
def post_location(body: PositionReport | list[PositionReport], who: CurrentTechnician) -> Response:
    """One position, or a batch queued while the phone was offline; one older than the stored one is history only."""
    reports = body if isinstance(body, list) else [body]
    if len(reports) > 500:
        from core.errors import ValidationFailed

        raise ValidationFailed({"body": "send at most 500 positions at once"})
    positions = [svc.PositionIn(r.lat, r.lng, r.recorded_at, r.accuracy_m) for r in reports]
    done = svc.record_positions(get_core(), svc.acting_for(who), positions)
    return model_response(Accepted(accepted=done.accepted, job_id=done.job_id))


@router.post("/api/v1/technicians/me/status", response_model=StatusOut, responses={401: {}, 403: {}, 409: {}})
def post_status(body: StatusIn, who: CurrentTechnician) -> StatusOut:
    """Go on shift (available), take a break, or go off shift."""
    t = svc.set_shift_status(get_core(), who, TechStatus(body.status))
    return StatusOut(status=t.status)


@router.get("/api/v1/technicians/me/job", response_model=JobOut, responses={401: {}, 403: {}})
def get_job(who: CurrentTechnician) -> Response:
    """The current job, or null."""
    return model_response(JobOut(job=svc.job_view(get_core(), who)))


@router.post("/api/v1/jobs/{job_id}/{action}", response_model=JobOut, responses={401: {}, 403: {}, 404: {}, 409: {}})
def post_job_action(
    job_id: int,
    action: Literal["accept", "decline", "en-route", "arrived", "complete"],
    who: CurrentTechnician,
    body: JobStepIn | None = None,
) -> Response:
    """One step of the job workflow, on the caller's own job only."""
    data = body.model_dump() if body and action == "complete" else None
    return model_response(JobOut(job=svc.job_step(get_core(), who, job_id, action, data)))
