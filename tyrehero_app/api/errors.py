"""One error shape for the whole API: {"detail": ...} with a 4xx code, never a 500 for bad input."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from pydantic import ValidationError
from sqlalchemy.exc import DataError, OperationalError
from sqlalchemy.exc import TimeoutError as PoolTimeout

from core.config import get_settings
from core.errors import Conflict, DomainError, Forbidden, IllegalTransition, NotFound, Unavailable, ValidationFailed
from core.infra.metrics import RATE_LIMITED
from core.infra.ratelimit import RateLimited
from core.requests.rating import AlreadyRated
from core.schemas import field_errors
from core.staff.auth import AuthFailed, Throttled
from tyrehero_app.api.deps import NotAuthenticated


def _fields(errors: dict[str, str]) -> list[dict[str, str]]:
    return [{"field": k, "message": v} for k, v in errors.items()]


def _validation_from_fastapi(exc: RequestValidationError) -> dict[str, str]:
    out: dict[str, str] = {}
    for err in exc.errors():
        loc = [str(p) for p in err.get("loc", ()) if p != "body"]
        field = ".".join(loc) or "body"
        kind = err.get("type", "")
        if kind == "json_invalid":
            field, msg = "body", "The body is not valid JSON."
        elif kind == "missing" and field == "body":
            msg = "A JSON body is required."
        elif kind == "missing":
            msg = "this field is required"
        elif kind == "model_attributes_type" or kind == "dict_type":
            msg = "expected a JSON object"
        elif kind == "extra_forbidden":
            msg = "unknown field"
        else:
            msg = str(err.get("msg", "invalid value")).removeprefix("Value error, ")
        out.setdefault(field, msg)
    return out


def _message(exc: Exception) -> str:
    assert isinstance(exc, DomainError)
    return exc.message


def _retry_after(exc: Exception) -> dict[str, str]:
    assert isinstance(exc, Throttled | RateLimited)
    return {"Retry-After": str(exc.retry_after_s)}


def _request_fields(exc: Exception) -> list[dict[str, str]]:
    assert isinstance(exc, RequestValidationError)
    return _fields(_validation_from_fastapi(exc))


def _model_fields(exc: Exception) -> list[dict[str, str]]:
    assert isinstance(exc, ValidationError)
    return _fields(field_errors(exc))


def _domain_fields(exc: Exception) -> list[dict[str, str]]:
    assert isinstance(exc, ValidationFailed)
    return _fields(exc.errors)


def _bearer(_: Exception) -> dict[str, str]:
    return {"WWW-Authenticate": "Bearer"}


def _count_rate_limited(_: Exception) -> None:
    RATE_LIMITED.labels("api").inc()


@dataclass(frozen=True)
class Reply:
    """How one kind of error is answered: the status, the `detail` built from the error, extra headers,
    and something to count (a metric) when it happens."""

    status: int
    detail: Callable[[Exception], object] = _message
    headers: Callable[[Exception], dict[str, str]] | None = None
    count: Callable[[Exception], None] | None = None
    extra: Callable[[Exception], dict[str, str]] | None = None  # more keys of the body, beside "detail"


def _unavailable_detail(message: str) -> str:
    return f"{message} Please call us on {get_settings().support_phone}."


_RETRY_30 = {"Retry-After": "30"}


def _service(exc: Exception) -> dict[str, str]:
    """Which dependency failed, for a client's logs and our own: {"service": "database"}."""
    service = exc.service if isinstance(exc, Unavailable) else "database"  # SQLAlchemy's errors: PostgreSQL's
    return {"service": service} if service else {}

# The whole mapping from errors to HTTP answers. A subclass takes its nearest listed ancestor's row
# (AlreadyOpen -> Conflict, SecondFactorRequired -> AuthFailed), as Starlette looks handlers up by the MRO.
REPLIES: dict[type[Exception], Reply] = {
    RequestValidationError: Reply(422, _request_fields),
    ValidationError: Reply(422, _model_fields),
    ValidationFailed: Reply(422, _domain_fields),
    NotFound: Reply(404),
    IllegalTransition: Reply(409),
    Conflict: Reply(409),
    AlreadyRated: Reply(409),  # a second rating of one visit: the message repeats the first
    NotAuthenticated: Reply(401, headers=_bearer),
    AuthFailed: Reply(401, headers=_bearer),
    Forbidden: Reply(403),
    Throttled: Reply(429, headers=_retry_after),
    RateLimited: Reply(429, headers=_retry_after, count=_count_rate_limited),
    Unavailable: Reply(503, lambda e: _unavailable_detail(_message(e)), headers=lambda _: _RETRY_30, extra=_service),
    # A value PostgreSQL cannot hold (NUL bytes, numbers out of range) is bad input, not a server fault.
    DataError: Reply(422, lambda _: _fields({
        "body": "The request holds characters or numbers that cannot be stored."})),
    UnicodeEncodeError: Reply(422, lambda _: _fields({"body": "The text is not valid Unicode."})),
    OperationalError: Reply(503, lambda _: _unavailable_detail("We cannot take requests online right now."),
                            headers=lambda _: _RETRY_30, extra=_service),
    # No pooled connection free within the pool's timeout: the database is as good as down for this call.
    PoolTimeout: Reply(503, lambda _: _unavailable_detail("We cannot take requests online right now."),
                       headers=lambda _: _RETRY_30, extra=_service),
}


def reply_for(exc: Exception) -> Reply:
    """The row of the nearest class in `exc`'s MRO that the table lists."""
    for cls in type(exc).__mro__:
        if cls in REPLIES:
            return REPLIES[cls]
    raise LookupError(type(exc).__name__)


async def _handle(_: Request, exc: Exception) -> JSONResponse:
    reply = reply_for(exc)
    if reply.count is not None:
        reply.count(exc)
    content = {"detail": reply.detail(exc), **(reply.extra(exc) if reply.extra is not None else {})}
    return JSONResponse(status_code=reply.status, content=content,
                        headers=reply.headers(exc) if reply.headers is not None else None)


def install(app: FastAPI) -> None:
    """One handler for every error in `REPLIES`."""
    for cls in REPLIES:
        app.add_exception_handler(cls, _handle)
