"""Two-factor sign-in: TOTP codes from an authenticator app, one-time recovery codes, and one-time
enrolment codes that an admin gives a colleague who must set it up.

Admins and dispatchers must use it in production (`required_for`); anyone may turn it on. Secrets are
encrypted with the phone vault's key (`rotate-phone-key` re-encrypts them too). Codes are accepted by a
single conditional UPDATE each: a TOTP code only if its 30-second step is newer than the last accepted
one (so a code seen over someone's shoulder cannot be used again), a recovery or enrolment code only
while unused. Two requests racing with one code: one wins.

One module (~390 lines): set-up, sign-in checks, recovery and enrolment codes share the secret's
encryption, the code hashing and the single-use statements; split, each part would import the others.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import io
import json
import re
import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta
from enum import StrEnum
from typing import Any

import pyotp
import segno
import sqlalchemy as sa
from cryptography.fernet import Fernet, InvalidToken
from sqlmodel import Session, col, select

from core.config import Settings
from core.context import Core
from core.errors import Conflict, Forbidden, NotFound, ValidationFailed
from core.infra.db import session_scope
from core.infra.rows import rowcount
from core.models import EnrolmentCode, RecoveryCode, UserAccount, utcnow
from core.phones import PhoneVault
from core.principal import Principal, Role
from core.privacy.retention import audit

ISSUER = "TyreHero"
STEP_S = 30
DRIFT_STEPS = 1  # a phone's clock may be one step (30 s) out either way
RECOVERY_CODE_COUNT = 10
ENROLMENT_CODE_TTL = timedelta(hours=24)
CHALLENGE_TTL_S = 300  # from the password to the code on the login page
REQUIRED_ROLES = frozenset({Role.ADMIN, Role.DISPATCHER})
_ALPHABET = "abcdefghjkmnpqrstuvwxyz23456789"  # no 0/o or 1/l/i to misread
_SIX_DIGITS = re.compile(r"\d{6}")
WRONG_CODE = "That code is not right. Use the newest code your authenticator app shows."


class Need(StrEnum):
    """What a sign-in still needs after the password."""

    CODE = "two_factor_required"  # a code from the app, or a recovery code
    ENROL = "two_factor_enrolment_required"  # required but not set up: an enrolment code from an admin


def required_for(settings: Settings, role: str) -> bool:
    return settings.environment == "production" and role in REQUIRED_ROLES


def need_of(settings: Settings, account: UserAccount) -> Need | None:
    if account.totp_enabled:
        return Need.CODE
    return Need.ENROL if required_for(settings, account.role) else None


def normalise_code(code: str) -> str:
    return re.sub(r"[\s-]", "", code or "").lower()[:40]


def _derived_key(settings: Settings, purpose: str) -> bytes:
    return hashlib.sha256(f"{purpose}:{settings.secret_key}".encode()).digest()


def code_hash(settings: Settings, code: str) -> str:
    """Keyed hash of a recovery or enrolment code (≈50 random bits each, so a fast keyed hash is enough)."""
    return hmac.new(_derived_key(settings, "one-time-code"), normalise_code(code).encode(), hashlib.sha256).hexdigest()


def _new_code(length: int) -> str:
    raw = "".join(secrets.choice(_ALPHABET) for _ in range(length))
    return "-".join(raw[i : i + 5] for i in range(0, length, 5))


def _audit(core: Core, who: Principal, action: str, target: str, **data: Any) -> None:
    audit(core, who, action, target=target, **data)


# --- TOTP -------------------------------------------------------------------------------------------


def matching_step(secret: str, code: str, at: float) -> int | None:
    """The time step (newest first, within the drift allowed) whose code this is, or None."""
    code = normalise_code(code)
    if not _SIX_DIGITS.fullmatch(code):
        return None
    totp, now_step = pyotp.TOTP(secret), int(at // STEP_S)
    for step in range(now_step + DRIFT_STEPS, now_step - DRIFT_STEPS - 1, -1):
        if hmac.compare_digest(totp.at(step * STEP_S), code):
            return step
    return None


def verify_totp(core: Core, user_id: int, code: str, at: float) -> bool:
    """True once per code: the step must be newer than the last accepted step, claimed atomically."""
    with Session(core.engine) as s:
        enc = s.exec(select(UserAccount.totp_secret_enc)
                     .where(UserAccount.id == user_id, col(UserAccount.totp_enabled))).first()
    if not enc:
        return False
    step = matching_step(core.vault.decrypt(enc), code, at)
    if step is None:
        return False
    with session_scope(core.engine) as s:
        claimed = rowcount(s.execute(sa.update(UserAccount).where(
            col(UserAccount.id) == user_id, col(UserAccount.totp_enabled),
            sa.or_(col(UserAccount.totp_last_step).is_(None), col(UserAccount.totp_last_step) < step),
        ).values(totp_last_step=step)))
    return claimed == 1


def use_recovery_code(core: Core, user_id: int, code: str) -> bool:
    """True the first time an unused recovery code of this account is given; it is spent in the same statement."""
    with session_scope(core.engine) as s:
        spent = rowcount(s.execute(sa.update(RecoveryCode).where(
            col(RecoveryCode.user_id) == user_id, col(RecoveryCode.code_hash) == code_hash(core.settings, code),
            col(RecoveryCode.used_at).is_(None),
        ).values(used_at=utcnow())))
    return spent == 1


def redeem_enrolment_code(core: Core, user_id: int, code: str) -> bool:
    """True the first time a live enrolment code of this account is given; it is spent in the same statement."""
    now = utcnow()
    with session_scope(core.engine) as s:
        spent = rowcount(s.execute(sa.update(EnrolmentCode).where(
            col(EnrolmentCode.user_id) == user_id, col(EnrolmentCode.code_hash) == code_hash(core.settings, code),
            col(EnrolmentCode.used_at).is_(None), col(EnrolmentCode.expires_at) > now,
        ).values(used_at=now)))
    return spent == 1


def check_second_factor(core: Core, account: UserAccount, code: str, at: float) -> str | None:
    """Which second factor `code` was ("totp", "recovery" or "enrolment"), spent; None when refused."""
    assert account.id is not None
    if account.totp_enabled:
        if _SIX_DIGITS.fullmatch(normalise_code(code)):
            return "totp" if verify_totp(core, account.id, code, at) else None
        return "recovery" if use_recovery_code(core, account.id, code) else None
    return "enrolment" if redeem_enrolment_code(core, account.id, code) else None


# --- enrolment --------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Enrolment:
    """A secret waiting for its first code: what the authenticator app needs."""

    secret: str
    uri: str

    def qr_svg(self) -> str:
        return qr_svg(self.uri)


@dataclass(frozen=True)
class TwoFactorStatus:
    enabled: bool
    pending: bool  # a secret was handed out and waits for its first code
    required: bool
    recovery_codes_left: int


def qr_svg(text: str) -> str:
    """A QR code as an SVG document, made here (no outside service sees the secret)."""
    buf = io.BytesIO()
    segno.make(text, error="m").save(buf, kind="svg", scale=5, border=2, xmldecl=False, title="Two-factor set-up")
    return buf.getvalue().decode()


def _account(s: Session, user_id: int) -> UserAccount:
    account = s.get(UserAccount, user_id)
    if account is None or not account.active:
        raise NotFound("No such active account.")
    return account


def status(core: Core, who: Principal) -> TwoFactorStatus:
    with Session(core.engine) as s:
        account = _account(s, who.account_id)
        left = s.exec(select(sa.func.count()).select_from(RecoveryCode).where(
            RecoveryCode.user_id == who.user_id, col(RecoveryCode.used_at).is_(None))).one()
    return TwoFactorStatus(account.totp_enabled, bool(account.totp_secret_enc) and not account.totp_enabled,
                           required_for(core.settings, account.role), int(left) if account.totp_enabled else 0)


def begin_enrolment(core: Core, who: Principal) -> Enrolment:
    """A new secret for the caller's own account, waiting for a first code (a new start replaces it)."""
    secret = pyotp.random_base32()
    with session_scope(core.engine) as s:
        started = rowcount(s.execute(sa.update(UserAccount).where(
            col(UserAccount.id) == who.user_id, col(UserAccount.active), sa.not_(col(UserAccount.totp_enabled)),
        ).values(totp_secret_enc=core.vault.encrypt(secret), totp_last_step=None)))
    if started != 1:
        raise Conflict("Two-factor sign-in is already on for this account. To move it to a new phone, "
                       "turn it off first (or ask an admin to reset it).")
    return Enrolment(secret, _uri(secret, who.username))


def pending_enrolment(core: Core, who: Principal) -> Enrolment | None:
    with Session(core.engine) as s:
        account = _account(s, who.account_id)
    if account.totp_enabled or not account.totp_secret_enc:
        return None
    secret = core.vault.decrypt(account.totp_secret_enc)
    return Enrolment(secret, _uri(secret, account.username))


def _uri(secret: str, username: str) -> str:
    return pyotp.TOTP(secret).provisioning_uri(name=username, issuer_name=ISSUER)


def confirm_enrolment(core: Core, who: Principal, code: str, at: float) -> list[str]:
    """Turn two-factor sign-in on with the first code from the app; returns the recovery codes (shown once)."""
    with Session(core.engine) as s:
        account = _account(s, who.account_id)
    if account.totp_enabled:
        raise Conflict("Two-factor sign-in is already on for this account.")
    if not account.totp_secret_enc:
        raise Conflict("Start the set-up first: there is no code to check yet.")
    step = matching_step(core.vault.decrypt(account.totp_secret_enc), code, at)
    if step is None:
        raise ValidationFailed({"code": WRONG_CODE})
    codes = [_new_code(10) for _ in range(RECOVERY_CODE_COUNT)]
    now = utcnow()
    with session_scope(core.engine) as s:
        done = rowcount(s.execute(sa.update(UserAccount).where(
            col(UserAccount.id) == who.user_id, sa.not_(col(UserAccount.totp_enabled)),
            col(UserAccount.totp_secret_enc) == account.totp_secret_enc,
        ).values(totp_enabled=True, totp_last_step=step, totp_enabled_at=now)))
        if done != 1:
            raise Conflict("The set-up was started again meanwhile: use the newest QR code.")
        _replace_recovery_codes(core, s, who.account_id, codes)
        s.execute(sa.update(EnrolmentCode).where(col(EnrolmentCode.user_id) == who.user_id,
                                                 col(EnrolmentCode.used_at).is_(None)).values(used_at=now))
    _audit(core, who, "mfa_enrolled", target=who.username)
    return codes


def _replace_recovery_codes(core: Core, s: Session, user_id: int, codes: list[str]) -> None:
    s.execute(sa.delete(RecoveryCode).where(col(RecoveryCode.user_id) == user_id))
    s.add_all([RecoveryCode(user_id=user_id, code_hash=code_hash(core.settings, c)) for c in codes])


def new_recovery_codes(core: Core, who: Principal, code: str, at: float) -> list[str]:
    """A fresh set of recovery codes (the old ones stop working), against a current code from the app."""
    if not verify_totp(core, who.account_id, code, at):
        raise ValidationFailed({"code": WRONG_CODE})
    codes = [_new_code(10) for _ in range(RECOVERY_CODE_COUNT)]
    with session_scope(core.engine) as s:
        _replace_recovery_codes(core, s, who.account_id, codes)
    _audit(core, who, "mfa_recovery_codes_renewed", target=who.username)
    return codes


def disable(core: Core, who: Principal, code: str, at: float) -> None:
    """Turn off one's own two-factor sign-in (with a current code), where one's role does not require it."""
    if required_for(core.settings, who.role):
        raise Forbidden("Your role must use two-factor sign-in. If you lost your phone, ask an admin to reset it.")
    if not verify_totp(core, who.account_id, code, at):
        raise ValidationFailed({"code": WRONG_CODE})
    with session_scope(core.engine) as s:
        _clear(s, who.account_id)
    _audit(core, who, "mfa_disabled", target=who.username)


def _clear(s: Session, user_id: int) -> None:
    s.execute(sa.update(UserAccount).where(col(UserAccount.id) == user_id).values(
        totp_secret_enc=None, totp_enabled=False, totp_last_step=None, totp_enabled_at=None))
    s.execute(sa.delete(RecoveryCode).where(col(RecoveryCode.user_id) == user_id))


# --- what admins do for others ------------------------------------------------------------------------


@dataclass(frozen=True)
class IssuedCode:
    username: str
    code: str  # shown once to the admin, who passes it on in person or by phone
    expires_at: datetime


def _target(s: Session, username: str) -> UserAccount:
    account = s.exec(select(UserAccount).where(UserAccount.username == username.strip().lower())).first()
    if account is None or not account.active:
        raise NotFound(f"No active account named {username.strip()[:64]!r}.")
    return account


def issue_enrolment_code(core: Core, who: Principal, username: str) -> IssuedCode:
    """A one-time code (24 h) with which `username` signs in once, without two-factor set up, to set it up.
    Any earlier unused code of that account stops working."""
    who.require(Role.ADMIN, Role.SYSTEM)
    code = _new_code(15)
    now = utcnow()
    with session_scope(core.engine) as s:
        account = _target(s, username)
        if account.totp_enabled:
            raise Conflict(f"{account.username} already uses two-factor sign-in: "
                           "reset it first if they lost their phone.")
        _issue(core, s, who, account, code, now)
    _audit(core, who, "mfa_enrolment_code_issued", target=account.username)
    return IssuedCode(account.username, code, now + ENROLMENT_CODE_TTL)


def _issue(core: Core, s: Session, who: Principal, account: UserAccount, code: str, now: datetime) -> None:
    s.execute(sa.update(EnrolmentCode).where(col(EnrolmentCode.user_id) == account.id,
                                             col(EnrolmentCode.used_at).is_(None)).values(used_at=now))
    assert account.id is not None  # a stored account
    s.add(EnrolmentCode(code_hash=code_hash(core.settings, code), user_id=account.id, issued_by=who.username[:100],
                        expires_at=now + ENROLMENT_CODE_TTL))


def reset(core: Core, who: Principal, username: str) -> IssuedCode:
    """Turn off another account's two-factor sign-in (a lost phone) and issue its enrolment code."""
    who.require(Role.ADMIN, Role.SYSTEM)
    code = _new_code(15)
    now = utcnow()
    with session_scope(core.engine) as s:
        account = _target(s, username)
        if account.id == who.user_id:
            raise Forbidden("Ask another admin to reset your own two-factor sign-in "
                            "(or use `python -m core enrol-2fa`).")
        assert account.id is not None
        _clear(s, account.id)
        _issue(core, s, who, account, code, now)
    _audit(core, who, "mfa_reset", target=account.username)
    return IssuedCode(account.username, code, now + ENROLMENT_CODE_TTL)


# --- the login page's second step ---------------------------------------------------------------------


@dataclass(frozen=True)
class Challenge:
    """Between the password and the code on the login page: whose password was right, and what is owed."""

    user_id: int
    username: str
    need: Need


def _challenge_fernet(settings: Settings) -> Fernet:
    return Fernet(base64.urlsafe_b64encode(_derived_key(settings, "login-challenge")))


def challenge_token(settings: Settings, challenge: Challenge, at: float) -> str:
    """Sealed (encrypted and authenticated) for an HttpOnly cookie; valid CHALLENGE_TTL_S."""
    data = json.dumps({"u": challenge.user_id, "n": challenge.username, "k": challenge.need.value}).encode()
    return _challenge_fernet(settings).encrypt_at_time(data, int(at)).decode()


def read_challenge(settings: Settings, token: str | None, at: float) -> Challenge | None:
    if not token or len(token) > 1000:
        return None
    try:
        raw = _challenge_fernet(settings).decrypt_at_time(token.encode(), CHALLENGE_TTL_S, int(at))
        data = json.loads(raw)
        return Challenge(int(data["u"]), str(data["n"]), Need(data["k"]))
    except (InvalidToken, ValueError, KeyError, TypeError):
        return None


def rotate_secrets(engine: sa.Engine, old_vault: PhoneVault, new_vault: PhoneVault) -> int:
    """Re-encrypt TOTP secrets under a new phone key (run by `rotate-phone-key`); idempotent."""
    done = 0
    with session_scope(engine) as s:
        rows = s.execute(sa.select(col(UserAccount.id), col(UserAccount.totp_secret_enc))
                         .where(col(UserAccount.totp_secret_enc).is_not(None)).with_for_update()).all()
        for uid, enc in rows:
            try:
                secret = old_vault.decrypt(enc)
            except InvalidToken:
                continue  # already under the new key
            s.execute(sa.update(UserAccount).where(col(UserAccount.id) == uid)
                      .values(totp_secret_enc=new_vault.encrypt(secret)))
            done += 1
    return done
