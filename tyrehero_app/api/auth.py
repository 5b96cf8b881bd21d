"""Logins: bearer tokens for the API, an HttpOnly cookie for the pages; both with a second factor where
the account needs one (core.staff.mfa)."""

from __future__ import annotations

import time
from typing import Annotated
from urllib.parse import quote

from fastapi import APIRouter, Form, Request
from fastapi.responses import JSONResponse, RedirectResponse
from pydantic import BaseModel, Field, model_validator

from core.staff import auth, mfa
from tyrehero_app.api import two_factor
from tyrehero_app.api.cookies import cookie_secure
from tyrehero_app.api.deps import SESSION_COOKIE, CurrentUser, client_ip, token_from
from tyrehero_app.runtime import get_core

router = APIRouter(tags=["auth"])
router.include_router(two_factor.router)
HOME_FOR_ROLE = {"technician": "/tech", "dispatcher": "/dispatch", "admin": "/dispatch"}
ACCOUNT_PAGE = "/account"
# Sealed "whose password was right" between the login page's two steps; only the login routes see it.
CHALLENGE_COOKIE = "th_login"
CHALLENGE_PATH = "/auth/login"


class Credentials(BaseModel):
    username: str = Field(min_length=1, max_length=64)
    password: str = Field(min_length=1, max_length=256)
    otp: str | None = Field(None, pattern=r"^\d{6}$", description="the 6-digit code from the authenticator app")
    recovery_code: str | None = Field(None, min_length=8, max_length=40,
                                      description="a one-time recovery code (instead of `otp`)")

    @model_validator(mode="after")
    def _one_code(self) -> Credentials:
        if self.otp and self.recovery_code:
            raise ValueError("send either otp or recovery_code, not both")
        return self


class TokenOut(BaseModel):
    access_token: str
    token_type: str = "bearer"
    expires_in: int
    role: str


@router.post("/api/v1/auth/token", response_model=TokenOut, responses={401: {}, 429: {}})
def issue_token(body: Credentials, request: Request) -> TokenOut | JSONResponse:
    """Username and password (and `otp` or `recovery_code` where two-factor sign-in is on) for a bearer token.

    A right password without a needed code: 401 with `code` `two_factor_required` (send `otp`), or
    `two_factor_enrolment_required` (the account must first set up two-factor sign-in on the login page)."""
    try:
        token, who = auth.login(get_core(), body.username, body.password, client_ip(request), kind="bearer",
                                code=body.otp or body.recovery_code)
    except auth.SecondFactorRequired as e:
        return JSONResponse(status_code=401, content={"detail": e.message, "code": e.need},
                            headers={"WWW-Authenticate": "Bearer"})
    expires = auth.SESSION_TTL["bearer"].total_seconds()
    return TokenOut(access_token=token, expires_in=int(expires), role=who.role)


@router.post("/api/v1/auth/logout", status_code=204, responses={401: {}})
def revoke_token(request: Request, who: CurrentUser) -> None:
    """Revoke the token (or cookie session) used for this call."""
    auth.logout(get_core(), token_from(request) or "")


def _safe_next(next_path: str, role: str) -> str:
    if next_path.startswith("/") and not next_path.startswith("//") and len(next_path) < 200:
        return next_path
    return HOME_FOR_ROLE.get(role, "/")


def _back_to_login(message: str, next_path: str, step: str = "") -> RedirectResponse:
    step_q = f"step={step}&" if step else ""
    return RedirectResponse(f"/login?{step_q}error={quote(message)}&next={quote(next_path)}", status_code=303)


def _signed_in(request: Request, token: str, to: str) -> RedirectResponse:
    resp = RedirectResponse(to, status_code=303)
    resp.set_cookie(SESSION_COOKIE, token, max_age=int(auth.SESSION_TTL["cookie"].total_seconds()), httponly=True,
                    samesite="lax", secure=cookie_secure(get_core().settings, request), path="/")
    resp.delete_cookie(CHALLENGE_COOKIE, path=CHALLENGE_PATH)
    return resp


@router.post("/auth/login", include_in_schema=False)
def page_login(
    request: Request,
    username: Annotated[str, Form(max_length=64)] = "",
    password: Annotated[str, Form(max_length=256)] = "",
    next_path: Annotated[str, Form(alias="next", max_length=200)] = "",
) -> RedirectResponse:
    """The login form posts here; the session cookie cannot be read by scripts. When the account needs a
    second factor, the login page's second step asks for it."""
    core = get_core()
    now = time.time()
    try:
        token, who = auth.login(core, username, password, client_ip(request), kind="cookie", at=now)
    except auth.SecondFactorRequired as e:
        step = "code" if e.need == mfa.Need.CODE else "enrol"
        resp = RedirectResponse(f"/login?step={step}&next={quote(next_path)}", status_code=303)
        sealed = mfa.challenge_token(core.settings, mfa.Challenge(e.user_id, e.username, mfa.Need(e.need)), now)
        resp.set_cookie(CHALLENGE_COOKIE, sealed, max_age=mfa.CHALLENGE_TTL_S, httponly=True, samesite="strict",
                        secure=cookie_secure(get_core().settings, request), path=CHALLENGE_PATH)
        return resp
    except (auth.AuthFailed, auth.Throttled) as e:
        return _back_to_login(e.message, next_path)
    return _signed_in(request, token, _safe_next(next_path, who.role))


@router.post("/auth/login/code", include_in_schema=False)
def page_login_code(
    request: Request,
    code: Annotated[str, Form(max_length=40)] = "",
    next_path: Annotated[str, Form(alias="next", max_length=200)] = "",
) -> RedirectResponse:
    """The login page's second step: a code from the app, a recovery code, or an admin's enrolment code."""
    core = get_core()
    now = time.time()
    challenge = mfa.read_challenge(core.settings, request.cookies.get(CHALLENGE_COOKIE), now)
    if challenge is None:
        return _back_to_login("Your sign-in took too long. Start again with your username and password.", next_path)
    step = "code" if challenge.need == mfa.Need.CODE else "enrol"
    if not code.strip():
        return _back_to_login("Enter the code.", next_path, step)
    try:
        token, who = auth.login_second_step(core, challenge.user_id, code, client_ip(request), kind="cookie", at=now)
    except (auth.AuthFailed, auth.Throttled) as e:
        return _back_to_login(e.message, next_path, step)
    # Signed in with an enrolment code: straight to setting up the authenticator app.
    to = ACCOUNT_PAGE if challenge.need == mfa.Need.ENROL else _safe_next(next_path, who.role)
    return _signed_in(request, token, to)


@router.post("/auth/logout", include_in_schema=False)
def page_logout(request: Request) -> RedirectResponse:
    token = request.cookies.get(SESSION_COOKIE)
    if token:
        auth.logout(get_core(), token)
    resp = RedirectResponse("/login", status_code=303)
    resp.delete_cookie(SESSION_COOKIE, path="/")
    return resp
