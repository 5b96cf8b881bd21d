"""Logins: bearer tokens for the API, an HttpOnly cookie for the pages."""

from __future__ import annotations

from typing import Annotated
from urllib.parse import quote

from fastapi import APIRouter, Form, Request
from fastapi.responses import RedirectResponse
from pydantic import BaseModel, Field

from core import auth
from tyrehero_app.api.deps import SESSION_COOKIE, CurrentUser, client_ip, token_from
from tyrehero_app.runtime import get_core

router = APIRouter(tags=["auth"])
HOME_FOR_ROLE = {"technician": "/tech", "dispatcher": "/dispatch", "admin": "/dispatch"}


class Credentials(BaseModel):
    username: str = Field(min_length=1, max_length=64)
    password: str = Field(min_length=1, max_length=256)


class TokenOut(BaseModel):
    access_token: str
    token_type: str = "bearer"
    expires_in: int
    role: str


@router.post("/api/v1/auth/token", response_model=TokenOut, responses={401: {}, 429: {}})
def issue_token(body: Credentials, request: Request) -> TokenOut:
    """Username and password for a bearer token (12 h)."""
    token, who = auth.login(get_core().engine, body.username, body.password, client_ip(request), kind="bearer")
    return TokenOut(access_token=token, expires_in=int(auth.SESSION_TTL["bearer"].total_seconds()), role=who.role)


@router.post("/api/v1/auth/logout", status_code=204, responses={401: {}})
def revoke_token(request: Request, who: CurrentUser) -> None:
    """Revoke the token (or cookie session) used for this call."""
    auth.logout(get_core(), token_from(request) or "")


def _safe_next(next_path: str, role: str) -> str:
    if next_path.startswith("/") and not next_path.startswith("//") and len(next_path) < 200:
        return next_path
    return HOME_FOR_ROLE.get(role, "/")


@router.post("/auth/login", include_in_schema=False)
def page_login(
    request: Request,
    username: Annotated[str, Form(max_length=64)] = "",
    password: Annotated[str, Form(max_length=256)] = "",
    next_path: Annotated[str, Form(alias="next", max_length=200)] = "",
) -> RedirectResponse:
    """The login form posts here; the session cookie cannot be read by scripts."""
    try:
        token, who = auth.login(get_core().engine, username, password, client_ip(request), kind="cookie")
    except (auth.AuthFailed, auth.Throttled) as e:
        return RedirectResponse(f"/login?error={quote(e.message)}&next={quote(next_path)}", status_code=303)
    resp = RedirectResponse(_safe_next(next_path, who.role), status_code=303)
    resp.set_cookie(SESSION_COOKIE, token, max_age=int(auth.SESSION_TTL["cookie"].total_seconds()), httponly=True,
                    samesite="lax", secure=request.url.scheme == "https", path="/")
    return resp


@router.post("/auth/logout", include_in_schema=False)
def page_logout(request: Request) -> RedirectResponse:
    token = request.cookies.get(SESSION_COOKIE)
    if token:
        auth.logout(get_core(), token)
    resp = RedirectResponse("/login", status_code=303)
    resp.delete_cookie(SESSION_COOKIE, path="/")
    return resp
