"""The driver's rating of a completed job: the rating link, rating once, and what the console shows.

The rating link has its own token, derived like the tracking token (the request's public id and an HMAC
of it under the server's secret) but under another label, so that the completion message can build it
from the request alone, a rating link opens no tracking page, and it lives on its own clock: a week
after the job was completed (`RATING_LINK_LIFETIME`), where a tracking link stops a day after closing.
Once per request is the `uq_rating_request` constraint's rule, so two taps at once store one rating.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import uuid
from datetime import datetime, timedelta
from typing import Annotated, Any

import sqlalchemy as sa
from pydantic import BaseModel, ConfigDict, Field, field_validator
from sqlalchemy.dialects.postgresql import insert

from core.context import Core
from core.errors import Conflict, IllegalTransition, LinkExpired, NotFound
from core.infra.db import autocommit, session_scope, translates_outages
from core.models import Rating, RequestEvent, ServiceRequest, Technician, table_of, utcnow
from core.principal import Principal, Role
from core.requests.public import first_name
from core.schemas import clean_text
from core.states import RequestStatus, status_words

RATING_LINK_LIFETIME = timedelta(days=7)
COMMENT_MAX = 500
_MAC_BYTES = 12
READERS = (Role.DISPATCHER, Role.ADMIN)


class AlreadyRated(Conflict):
    """A second rating of one request: the message says so and repeats the first one."""

    def __init__(self, stars: int, comment: str) -> None:
        super().__init__(f"This visit was already rated {stars} of 5 stars. Thank you, that helps us.")
        self.stars, self.comment = stars, comment


class RatingIn(BaseModel):
    """One tap of 1-5 stars and, if the driver wants, a few words."""

    model_config = ConfigDict(extra="forbid")

    stars: Annotated[int, Field(strict=True, ge=1, le=5, description="1 (poor) to 5 (excellent)")]
    comment: Annotated[str, Field(max_length=COMMENT_MAX, description="optional, 500 characters at most")] = ""

    _clean = field_validator("comment", mode="before")(clean_text)

    @field_validator("stars", mode="before")
    @classmethod
    def _one_to_five(cls, v: object) -> object:
        if isinstance(v, bool) or not isinstance(v, int) or not 1 <= v <= 5:
            raise ValueError("choose from 1 to 5 stars")
        return v


class RatingView(BaseModel):
    """What the rating page and the API show for a rating link."""

    reference: str
    status: str
    status_text: str
    technician_first_name: str | None
    can_rate: bool  # completed, not yet rated
    stars: int | None  # the rating once given
    comment: str | None
    rated_at: str | None


def _mac(core: Core, public_bytes: bytes) -> bytes:
    return hmac.new(core.settings.secret_key.encode(), b"rate:" + public_bytes, hashlib.sha256).digest()[:_MAC_BYTES]


def rating_token(core: Core, public_id: uuid.UUID) -> str:
    """The token of `/rate/<token>`: unguessable without the server's secret, derivable from the request."""
    return base64.urlsafe_b64encode(public_id.bytes + _mac(core, public_id.bytes)).decode().rstrip("=")


def _not_found() -> NotFound:
    return NotFound("We could not find that visit. Check that the whole link from our text message was opened.")


def _public_id(core: Core, token: str) -> uuid.UUID:
    """The request a rating token names, or NotFound for a token the server did not make."""
    if not token or len(token) > 64:
        raise _not_found()
    try:
        raw = base64.urlsafe_b64decode(token + "=" * (-len(token) % 4))
    except (binascii.Error, ValueError):
        raise _not_found() from None
    if len(raw) != 16 + _MAC_BYTES or not hmac.compare_digest(raw[16:], _mac(core, raw[:16])):
        raise _not_found()
    return uuid.UUID(bytes=raw[:16])


_R, _T, _G = table_of(ServiceRequest), table_of(Technician), table_of(Rating)
_VIEW = (
    sa.select(_R.c.id, _R.c.reference, _R.c.status, _R.c.completed_at, _R.c.technician_id, _T.c.name.label("tech"),
              _G.c.stars, _G.c.comment, _G.c.created_at.label("rated_at"))
    .select_from(_R.outerjoin(_T, _T.c.id == _R.c.technician_id).outerjoin(_G, _G.c.request_id == _R.c.id))
    .where(_R.c.public_id == sa.bindparam("public_id"))
)


def _read(c: sa.Connection, core: Core, token: str, now: datetime) -> Any:
    row = c.execute(_VIEW, {"public_id": _public_id(core, token)}).first()
    if row is None:
        raise _not_found()
    if row.completed_at is not None and now >= row.completed_at + RATING_LINK_LIFETIME:
        raise LinkExpired(f"This rating link has expired: visits can be rated for {RATING_LINK_LIFETIME.days} days "
                          "after the job. Thank you for using TyreHero.")
    return row


def _view(row: Any) -> RatingView:
    return RatingView(
        reference=row.reference, status=row.status, status_text=status_words(row.status),
        technician_first_name=first_name(row.tech) if row.tech else None,
        can_rate=row.status == RequestStatus.COMPLETED and row.stars is None,
        stars=row.stars, comment=row.comment, rated_at=row.rated_at.isoformat() if row.rated_at else None,
    )


@translates_outages
def rating_view(core: Core, token: str, now: datetime | None = None) -> RatingView:
    """What a rating link shows: the visit, and its rating if given. NotFound / LinkExpired as for rating."""
    with autocommit(core.engine).connect() as c:
        return _view(_read(c, core, token, now or utcnow()))


def _not_ratable(status: str) -> IllegalTransition:
    if status == RequestStatus.CANCELLED:
        return IllegalTransition("This request was cancelled, so there is no visit to rate.")
    return IllegalTransition(f"You can rate the visit once the job is completed; it is {status_words(status)} now.")


@translates_outages
def rate(core: Core, token: str, rating: RatingIn, now: datetime | None = None) -> RatingView:
    """Store the driver's rating of a completed request, once: AlreadyRated (a Conflict) repeats the first,
    IllegalTransition for a request not completed, NotFound for an unknown link, LinkExpired after a week."""
    now = now or utcnow()
    with session_scope(core.engine) as s:
        row = _read(s.connection(), core, token, now)
        if row.status != RequestStatus.COMPLETED:
            raise _not_ratable(row.status)
        if row.stars is not None:
            raise AlreadyRated(row.stars, row.comment)
        stored = s.execute(insert(_G).values(
            request_id=row.id, technician_id=row.technician_id, stars=rating.stars, comment=rating.comment,
            created_at=now,
        ).on_conflict_do_nothing(constraint="uq_rating_request").returning(_G.c.id)).first()
        if stored is not None:
            # The timeline keeps the stars; the comment stays in the rating row (retention clears it there).
            s.add(RequestEvent(request_id=row.id, kind="rated", actor="customer", actor_role="customer",
                               data={"stars": rating.stars}))
    if stored is None:  # a concurrent tap stored its rating first
        first = rating_view(core, token, now)
        raise AlreadyRated(first.stars or 0, first.comment or "")
    return rating_view(core, token, now)


class LowRating(BaseModel):
    """One of the lowest recent ratings, as the console lists it."""

    reference: str
    stars: int
    comment: str
    technician: str
    at: str


class RatingSummary(BaseModel):
    """The console's figure: the average of the last `days` days, how many, and the lowest recent ones."""

    average: float | None
    count: int
    days: int
    lowest: list[LowRating]


def summary(core: Core, who: Principal, days: int = 30, lowest: int = 5, now: datetime | None = None) -> RatingSummary:
    """The average rating over `days` and the `lowest` worst of them, newest first among equals."""
    who.require(*READERS)
    return rating_summary(core, days, lowest, now)


def rating_summary(core: Core, days: int = 30, lowest: int = 5, now: datetime | None = None) -> RatingSummary:
    """`summary` for callers that checked the principal already (the console's snapshot)."""
    since = (now or utcnow()) - timedelta(days=days)
    with core.read_engine.connect() as c:
        avg, n = c.execute(sa.select(sa.func.avg(_G.c.stars), sa.func.count()).where(_G.c.created_at >= since)).one()
        worst = c.execute(
            sa.select(_R.c.reference, _G.c.stars, _G.c.comment, _G.c.created_at, _T.c.name)
            .select_from(_G.join(_R, _R.c.id == _G.c.request_id).outerjoin(_T, _T.c.id == _G.c.technician_id))
            .where(_G.c.created_at >= since, _G.c.stars < 5)
            .order_by(_G.c.stars, _G.c.created_at.desc()).limit(lowest)
        ).all()
    return RatingSummary(
        average=round(float(avg), 2) if avg is not None else None, count=int(n), days=days,
        lowest=[LowRating(reference=r.reference, stars=r.stars, comment=r.comment, technician=r.name or "",
                          at=r.created_at.isoformat()) for r in worst],
    )

