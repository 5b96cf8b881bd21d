"""Staff accounts: Argon2 passwords, logins (throttled, with a second factor where needed), sessions (page
cookies and API bearer tokens)."""

from __future__ import annotations

import math
import secrets
import time
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import datetime, timedelta
from typing import TYPE_CHECKING

import sqlalchemy as sa
from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError
from sqlmodel import Session, col, select

from core.errors import DomainError, ValidationFailed
from core.infra.db import autocommit, session_scope
from core.infra.events import DomainEvent
from core.infra.metrics import LOGIN_FAILURES
from core.models import AuthSession, Technician, UserAccount, utcnow
from core.principal import ROLES, SESSIONS_REVOKED, Principal, PrincipalCache
from core.schemas import clean_text
from core.staff import login_throttle, mfa
from core.staff.login_throttle import Attempt, LoginThrottle
from core.tokens import token_hash

if TYPE_CHECKING:
    from core.context import Core


SESSION_TTL = {"cookie": timedelta(hours=12), "bearer": timedelta(hours=12)}
# A sign-in with an admin's enrolment code is for setting up two-factor sign-in, not for a shift.
ENROLMENT_SESSION_TTL = timedelta(hours=1)
WRONG_CODE = "That code is not right. Use the newest code your authenticator app shows, or a recovery code."
SECOND_FACTOR_MESSAGES = {
    "two_factor_required": "Two-factor sign-in is on for this account: also send the 6-digit code from your "
                           "authenticator app, or one of your recovery codes.",
    "two_factor_enrolment_required": "This account must set up two-factor sign-in: sign in on the staff login page "
                                     "with the enrolment code an admin gave you, then follow the set-up steps.",
}

_hasher = PasswordHasher()
# Verifying against a real hash when the account does not exist keeps timing uniform.
_DUMMY_HASH = _hasher.hash("not-a-password")


class AuthFailed(DomainError):
    """Wrong username or password (never says which)."""


class Throttled(DomainError):
    def __init__(self, retry_after_s: int) -> None:
        if retry_after_s < 120:
            wait = "1 second" if retry_after_s <= 1 else f"{retry_after_s} seconds"
        else:
            wait = f"{math.ceil(retry_after_s / 60)} minutes"
        super().__init__(f"Too many failed logins. Try again in {wait}.")
        self.retry_after_s = retry_after_s


class SecondFactorRequired(AuthFailed):
    """The password was right; the account also needs a code (or, not set up yet, an enrolment code)."""

    def __init__(self, user_id: int, username: str, need: str) -> None:
        super().__init__(SECOND_FACTOR_MESSAGES[need])
        self.user_id, self.username, self.need = user_id, username, need


def hash_password(password: str) -> str:
    return _hasher.hash(password)


def verify_password(password_hash: str, password: str) -> bool:
    try:
        return _hasher.verify(password_hash, password)
    except (VerificationError, InvalidHashError):
        return False


def new_account(username: str, display_name: str, role: str, password: str) -> UserAccount:
    if role not in ROLES:
        raise ValueError(f"role must be one of {', '.join(ROLES)}")
    return UserAccount(username=username, display_name=display_name, role=role, password_hash=hash_password(password))


def login(core: Core, username: str, password: str, ip: str, kind: str = "bearer", *, code: str | None = None,
          at: float | None = None) -> tuple[str, Principal]:
    """Check the password and, where the account needs one, the second factor (`code`: a code from the
    authenticator app, a recovery code, or an admin's enrolment code); open a session and return its token.

    Throttled per (username, address), per address and per username (core.staff.login_throttle). A right
    password with no code raises SecondFactorRequired (the login page then asks for the code); a wrong
    code counts as a failed login."""
    username = clean_text(username or "").lower()[:64]
    password = (password or "").replace("\x00", "")
    at = time.time() if at is None else at
    throttle = _throttle(core)
    attempt = _claim(throttle, username, ip, at)
    with Session(core.engine) as s:
        user = s.exec(select(UserAccount).where(UserAccount.username == username)).first()
    ok = verify_password(user.password_hash if user else _DUMMY_HASH, password or "")
    if not ok or user is None or not user.active:
        _failed(throttle, attempt)
        raise AuthFailed("Wrong username or password.")
    need = mfa.need_of(core.settings, user)
    if need is not None and not code:
        throttle.refund(attempt)
        assert user.id is not None  # a stored account
        raise SecondFactorRequired(user.id, user.username, need)
    return _finish(core, throttle, attempt, user, kind, code, at)


def login_second_step(core: Core, user_id: int, code: str, ip: str, kind: str = "cookie", *,
                      at: float | None = None) -> tuple[str, Principal]:
    """The login page's second step: the code for an account whose password was right (a sealed challenge
    says whose); throttled and counted like a password."""
    at = time.time() if at is None else at
    with Session(core.engine) as s:
        user = s.get(UserAccount, user_id)
    if user is None or not user.active:
        raise AuthFailed("Your sign-in has ended. Start again with your username and password.")
    throttle = _throttle(core)
    attempt = _claim(throttle, user.username, ip, at)
    return _finish(core, throttle, attempt, user, kind, code, at)


def _finish(core: Core, throttle: LoginThrottle, attempt: Attempt, user: UserAccount, kind: str, code: str | None,
            at: float) -> tuple[str, Principal]:
    ttl = SESSION_TTL[kind]
    if mfa.need_of(core.settings, user) is not None:
        used = mfa.check_second_factor(core, user, code or "", at)
        if used is None:
            _failed(throttle, attempt)
            raise AuthFailed(WRONG_CODE)
        if used == "enrolment":
            ttl = ENROLMENT_SESSION_TTL
    throttle.succeeded(attempt)
    token = secrets.token_urlsafe(32)
    assert user.id is not None  # a stored account
    with session_scope(core.engine) as s:
        s.add(AuthSession(token_hash=token_hash(token), user_id=user.id, kind=kind, expires_at=utcnow() + ttl))
    return token, _principal(core.engine, user)


@contextmanager
def counted_attempt(core: Core, username: str, ip: str, at: float) -> Iterator[None]:
    """A code checked outside a login (turning two-factor off, new recovery codes), throttled and counted
    like a login, so a stolen session cannot guess codes at speed. A ValidationFailed or AuthFailed raised
    inside counts as a failure."""
    throttle = _throttle(core)
    attempt = _claim(throttle, username, ip, at)
    try:
        yield
    except (ValidationFailed, AuthFailed):
        _failed(throttle, attempt)
        raise
    except BaseException:
        throttle.refund(attempt)
        raise
    throttle.succeeded(attempt)


def _throttle(core: Core) -> LoginThrottle:
    return LoginThrottle(core.redis, core.engine, prefix=f"{core.limiter.prefix}login:")


def _claim(throttle: LoginThrottle, username: str, ip: str, at: float) -> Attempt:
    try:
        return throttle.claim(username, ip, at)
    except login_throttle.Throttled as e:
        raise Throttled(e.retry_after_s) from None


def _failed(throttle: LoginThrottle, attempt: Attempt) -> None:
    throttle.failed(attempt)
    LOGIN_FAILURES.inc()


def _principal(engine: sa.Engine, user: UserAccount) -> Principal:
    tech_id = None
    if user.role == "technician":
        with Session(engine) as s:
            tech_id = s.exec(select(Technician.id).where(Technician.user_id == user.id)).first()
    return Principal(user.id, user.username, user.display_name, user.role, tech_id)


# Who is behind each live session (not revoked, not expired, account active); built once.
_LIVE_SESSIONS_BASE = (
    sa.select(col(AuthSession.token_hash), col(UserAccount.id), col(UserAccount.username),
              col(UserAccount.display_name), col(UserAccount.role), col(Technician.id), col(AuthSession.expires_at))
    .select_from(AuthSession)
    .join(UserAccount, col(UserAccount.id) == AuthSession.user_id)
    .outerjoin(Technician, col(Technician.user_id) == UserAccount.id)
    .where(col(AuthSession.revoked_at).is_(None), AuthSession.expires_at > sa.bindparam("now"), col(UserAccount.active))
)
# One session: every staff call whose session the process does not know runs it.
_PRINCIPAL = _LIVE_SESSIONS_BASE.where(col(AuthSession.token_hash) == sa.bindparam("token_hash"))
# Every live session at once, newest first: what `refresh_principals` reads into a process's cache.
_LIVE_SESSIONS = _LIVE_SESSIONS_BASE.order_by(col(AuthSession.expires_at).desc()).limit(sa.bindparam("limit"))


def _session_row(row: sa.Row[str, int | None, str, str, str, int | None, datetime]) -> tuple[str, Principal, datetime]:
    """(token hash, who, session expiry) from a row of `_LIVE_SESSIONS_BASE`."""
    hashed, user_id, username, name, role, tech_id, expires_at = row
    return hashed, Principal(user_id, username, name, role, tech_id if role == "technician" else None), expires_at


def _session_key(token: str | None) -> str | None:
    """The stored hash of a plausible token; None for no token or one no session could have."""
    return token_hash(token) if token and len(token) <= 128 else None


def principal_for(engine: sa.Engine, token: str | None, cache: PrincipalCache | None = None) -> Principal | None:
    """The account behind a live session token, or None."""
    h = _session_key(token)
    if h is None:
        return None
    if cache is not None:
        hit = cache.get(h)
        if hit is not None:
            return hit
        generation = cache.generation
    with autocommit(engine).connect() as c:
        row = c.execute(_PRINCIPAL, {"token_hash": h, "now": utcnow()}).first()
    if row is None:
        return None
    _h, who, expires_at = _session_row(row)
    if cache is not None:
        cache.put(h, who, expires_at, generation)
    return who


def refresh_principals(engine: sa.Engine, cache: PrincipalCache) -> int:
    """Read every live session into the cache in one statement; returns how many were kept.

    Run every half TTL by each API process: its cache then stays warm, so 2,000 phones pinging
    every 10 s cost one statement per refresh instead of a lookup (and a thread hop) each time an
    entry lapses, and a restarted process does not send every phone's first call to PostgreSQL.
    Entries still live at most `ttl_s` past the read that put them there, and a revocation heard
    while the statement ran keeps none of its rows (the next refresh reads them again)."""
    if cache.ttl_s <= 0:
        return 0
    generation = cache.generation
    with autocommit(engine).connect() as c:
        rows = c.execute(_LIVE_SESSIONS, {"now": utcnow(), "limit": cache.max_entries}).all()
    return cache.put_many([_session_row(r) for r in rows], generation)


def cached_principal(cache: PrincipalCache, token: str | None) -> Principal | None:
    """The cache's answer alone (no database): for callers that avoid a thread hop when it knows."""
    h = _session_key(token)
    return None if h is None else cache.get(h)


def sessions_revoked(core: Core, user_id: int | None = None, token: str | None = None) -> None:
    """After sessions ended in the database: this process forgets them now, the others on the event."""
    h = token_hash(token) if token else None
    core.principals.evict(token_hash=h, user_id=user_id)
    core.bus.publish(DomainEvent(SESSIONS_REVOKED, data={"user_id": user_id, "token_hash": h}))


def logout(core: Core, token: str) -> None:
    """Revoke a session server-side: the token stops working at once, in every process."""
    with session_scope(core.engine) as s:
        s.execute(sa.update(AuthSession).where(col(AuthSession.token_hash) == token_hash(token))
                  .values(revoked_at=utcnow()))
    sessions_revoked(core, token=token)
