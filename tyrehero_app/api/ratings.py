"""The driver's rating of a completed job, through the rating link's token."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Path, Request
from starlette.responses import Response

from core.infra.ratelimit import Limit, rate_key_for_address
from core.requests import rating
from core.requests.rating import RatingIn, RatingView
from tyrehero_app.api.deps import client_ip
from tyrehero_app.api.responses import model_response
from tyrehero_app.runtime import get_core

router = APIRouter(prefix="/api/v1/ratings", tags=["ratings"])
Token = Annotated[str, Path(min_length=1, max_length=64)]


def _allowed(request: Request) -> None:
    s = get_core().settings
    get_core().limiter.hit(f"rate-ip:{rate_key_for_address(client_ip(request))}",
                           Limit(s.rate_limit_tracking_per_ip, 60),
                           "Too many attempts from this connection: wait a moment.")


@router.get("/{token}", response_model=RatingView, responses={404: {}})
def read_rating(token: Token, request: Request) -> Response:
    """The visit a rating link names, and its rating once given. 404 for an unknown link, or a week after the job."""
    _allowed(request)
    return model_response(rating.rating_view(get_core(), token))


@router.post("/{token}", status_code=201, response_model=RatingView, responses={404: {}, 409: {}, 422: {}})
def rate(token: Token, body: RatingIn, request: Request) -> Response:
    """Rate a completed visit once: 1-5 `stars` and an optional `comment` (500 characters at most).
    409 when the request is not completed, or was rated already (the message repeats that rating)."""
    _allowed(request)
    return model_response(rating.rate(get_core(), token, body), 201)
