"""One error shape for the whole API: {"detail": ...} with a 4xx code, never a 500 for bad input."""

from __future__ import annotations

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from pydantic import ValidationError
from sqlalchemy.exc import DataError, OperationalError

from core.config import get_settings
from core.errors import Conflict, Forbidden, IllegalTransition, NotFound, Unavailable, ValidationFailed
from core.infra.metrics import RATE_LIMITED
from core.infra.ratelimit import RateLimited
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


def install(app: FastAPI) -> None:
    @app.exception_handler(RequestValidationError)
    async def _422(_: Request, exc: RequestValidationError) -> JSONResponse:
        return JSONResponse(status_code=422, content={"detail": _fields(_validation_from_fastapi(exc))})

    @app.exception_handler(ValidationError)
    async def _422b(_: Request, exc: ValidationError) -> JSONResponse:
        return JSONResponse(status_code=422, content={"detail": _fields(field_errors(exc))})

    @app.exception_handler(ValidationFailed)
    async def _422c(_: Request, exc: ValidationFailed) -> JSONResponse:
        return JSONResponse(status_code=422, content={"detail": _fields(exc.errors)})

    @app.exception_handler(NotFound)
    async def _404(_: Request, exc: NotFound) -> JSONResponse:
        return JSONResponse(status_code=404, content={"detail": exc.message})

    @app.exception_handler(IllegalTransition)
    async def _409(_: Request, exc: IllegalTransition) -> JSONResponse:
        return JSONResponse(status_code=409, content={"detail": exc.message})

    @app.exception_handler(Conflict)
    async def _409b(_: Request, exc: Conflict) -> JSONResponse:
        return JSONResponse(status_code=409, content={"detail": exc.message})

    @app.exception_handler(NotAuthenticated)
    async def _401(_: Request, exc: NotAuthenticated) -> JSONResponse:
        return JSONResponse(status_code=401, content={"detail": exc.message}, headers={"WWW-Authenticate": "Bearer"})

    @app.exception_handler(AuthFailed)
    async def _401b(_: Request, exc: AuthFailed) -> JSONResponse:
        return JSONResponse(status_code=401, content={"detail": exc.message}, headers={"WWW-Authenticate": "Bearer"})

    @app.exception_handler(Forbidden)
    async def _403(_: Request, exc: Forbidden) -> JSONResponse:
        return JSONResponse(status_code=403, content={"detail": exc.message})

    @app.exception_handler(Throttled)
    async def _429(_: Request, exc: Throttled) -> JSONResponse:
        return JSONResponse(status_code=429, content={"detail": exc.message},
                            headers={"Retry-After": str(exc.retry_after_s)})

    @app.exception_handler(RateLimited)
    async def _429b(_: Request, exc: RateLimited) -> JSONResponse:
        RATE_LIMITED.labels("api").inc()
        return JSONResponse(status_code=429, content={"detail": exc.message},
                            headers={"Retry-After": str(exc.retry_after_s)})

    @app.exception_handler(Unavailable)
    async def _503(_: Request, exc: Unavailable) -> JSONResponse:
        return _unavailable(exc.message)

    @app.exception_handler(DataError)
    async def _422d(_: Request, exc: DataError) -> JSONResponse:
        # A value PostgreSQL cannot hold (NUL bytes, numbers out of range) is bad input, not a server fault.
        return JSONResponse(status_code=422, content={"detail": _fields(
            {"body": "The request holds characters or numbers that cannot be stored."})})

    @app.exception_handler(UnicodeEncodeError)
    async def _422e(_: Request, exc: UnicodeEncodeError) -> JSONResponse:
        return JSONResponse(status_code=422, content={"detail": _fields({"body": "The text is not valid Unicode."})})

    @app.exception_handler(OperationalError)
    async def _503b(_: Request, exc: OperationalError) -> JSONResponse:
        return _unavailable("We cannot take requests online right now.")


def _unavailable(message: str) -> JSONResponse:
    phone = get_settings().support_phone
    return JSONResponse(
        status_code=503,
        headers={"Retry-After": "30"},
        content={"detail": f"{message} Please call us on {phone}."},
    )
