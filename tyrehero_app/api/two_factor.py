"""Two-factor sign-in over HTTP, for the signed-in account (page cookie or bearer token), and for admins
who reset a colleague's or issue an enrolment code. Answers holding a secret are never cached."""

from __future__ import annotations

import time
from datetime import datetime

from fastapi import APIRouter, Request, Response
from pydantic import BaseModel, Field

from core.staff import auth, mfa
from tyrehero_app.api.deps import CurrentAdmin, CurrentUser, client_ip
from tyrehero_app.runtime import get_core

router = APIRouter(prefix="/auth/2fa", tags=["two-factor sign-in"])
NO_STORE = {"Cache-Control": "no-store"}


class StatusOut(BaseModel):
    enabled: bool
    pending: bool
    required: bool
    recovery_codes_left: int


class EnrolmentOut(BaseModel):
    secret: str = Field(description="for typing into the app by hand")
    otpauth_uri: str = Field(description="opens the authenticator app on a phone")
    qr_svg: str = Field(description="the same as a QR code (SVG), for scanning from another screen")


class CodeIn(BaseModel):
    code: str = Field(min_length=6, max_length=40)


class RecoveryCodesOut(BaseModel):
    recovery_codes: list[str] = Field(description="shown this once: each signs in once instead of a code")


class AccountIn(BaseModel):
    username: str = Field(min_length=1, max_length=64)


class EnrolmentCodeOut(BaseModel):
    username: str
    enrolment_code: str = Field(description="give it to the person in person or by phone; it works once")
    expires_at: datetime


@router.get("", response_model=StatusOut)
def two_factor_status(who: CurrentUser) -> StatusOut:
    s = mfa.status(get_core(), who)
    return StatusOut(
        enabled=s.enabled, pending=s.pending, required=s.required, recovery_codes_left=s.recovery_codes_left
    )


@router.post("/start", response_model=EnrolmentOut, responses={409: {}})
def start(who: CurrentUser, response: Response) -> EnrolmentOut:
    """A new secret for this account (replacing one not yet confirmed); confirm it with a first code."""
    e = mfa.begin_enrolment(get_core(), who)
    response.headers.update(NO_STORE)
    return EnrolmentOut(secret=e.secret, otpauth_uri=e.uri, qr_svg=e.qr_svg())


@router.get("/qr.svg", responses={404: {}})
def qr(who: CurrentUser) -> Response:
    """The waiting secret as a QR code image."""
    e = mfa.pending_enrolment(get_core(), who)
    if e is None:
        return Response(status_code=404, content='{"detail": "No set-up is waiting: start one first."}',
                        media_type="application/json")
    return Response(e.qr_svg(), media_type="image/svg+xml", headers=NO_STORE)


@router.post("/confirm", response_model=RecoveryCodesOut, responses={409: {}, 422: {}})
def confirm(body: CodeIn, who: CurrentUser, request: Request, response: Response) -> RecoveryCodesOut:
    """Turn two-factor sign-in on with the first code from the app; the recovery codes come back once."""
    core, now = get_core(), time.time()
    with auth.counted_attempt(core, who.username, client_ip(request), now):
        codes = mfa.confirm_enrolment(core, who, body.code, now)
    response.headers.update(NO_STORE)
    return RecoveryCodesOut(recovery_codes=codes)


@router.post("/recovery-codes", response_model=RecoveryCodesOut, responses={422: {}})
def renew_recovery_codes(body: CodeIn, who: CurrentUser, request: Request, response: Response) -> RecoveryCodesOut:
    """A new set of recovery codes against a current code; the old set stops working."""
    core, now = get_core(), time.time()
    with auth.counted_attempt(core, who.username, client_ip(request), now):
        codes = mfa.new_recovery_codes(core, who, body.code, now)
    response.headers.update(NO_STORE)
    return RecoveryCodesOut(recovery_codes=codes)


@router.post("/disable", status_code=204, responses={403: {}, 422: {}})
def disable(body: CodeIn, who: CurrentUser, request: Request) -> None:
    """Turn off one's own two-factor sign-in (not for roles that must use it)."""
    core, now = get_core(), time.time()
    with auth.counted_attempt(core, who.username, client_ip(request), now):
        mfa.disable(core, who, body.code, now)


@router.post("/enrolment-codes", response_model=EnrolmentCodeOut, status_code=201, responses={404: {}, 409: {}})
def issue_enrolment_code(body: AccountIn, who: CurrentAdmin, response: Response) -> EnrolmentCodeOut:
    """Admins: a one-time code (24 h) with which a colleague signs in once to set up two-factor sign-in."""
    issued = mfa.issue_enrolment_code(get_core(), who, body.username)
    response.headers.update(NO_STORE)
    return EnrolmentCodeOut(username=issued.username, enrolment_code=issued.code, expires_at=issued.expires_at)


@router.post("/reset", response_model=EnrolmentCodeOut, responses={403: {}, 404: {}})
def reset(body: AccountIn, who: CurrentAdmin, response: Response) -> EnrolmentCodeOut:
    """Admins: turn off a colleague's two-factor sign-in (a lost phone) and issue their enrolment code."""
    issued = mfa.reset(get_core(), who, body.username)
    response.headers.update(NO_STORE)
    return EnrolmentCodeOut(username=issued.username, enrolment_code=issued.code, expires_at=issued.expires_at)
