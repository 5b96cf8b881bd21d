"""Staff accounts: Argon2 passwords, sessions (page cookies and API bearer tokens), login throttling."""

from __future__ import annotations

import hashlib
import secrets
from dataclasses import dataclass
from datetime import timedelta

import sqlalchemy as sa
from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError
from sqlmodel import Session, col, select

from core.db import autocommit, session_scope
from core.errors import DomainError
from core.metrics import LOGIN_FAILURES
from core.models import AuthSession, LoginFailure, Technician, UserAccount, utcnow

ROLES = ("admin", "dispatcher", "technician")
SESSION_TTL = {"cookie": timedelta(hours=12), "bearer": timedelta(hours=12)}
MAX_FAILURES_PER_ACCOUNT = 5
MAX_FAILURES_PER_IP = 20
FAILURE_WINDOW = timedelta(minutes=15)

_hasher = PasswordHasher()
# Verifying against a real hash when the account does not exist keeps timing uniform.
_DUMMY_HASH = _hasher.hash("not-a-password")


class AuthFailed(DomainError):
    """Wrong username or password (never says which)."""


class Throttled(DomainError):
    def __init__(self, retry_after_s: int) -> None:
        super().__init__(f"Too many failed logins. Try again in {max(1, retry_after_s // 60)} minutes.")
        self.retry_after_s = retry_after_s


class Forbidden(DomainError):
    pass


@dataclass(frozen=True)
class Principal:
    """Who is calling: the account, its role and, for technicians, their technician id."""

    user_id: int
    username: str
    name: str
    role: str
    technician_id: int | None

    def require(self, *roles: str) -> Principal:
        if self.role not in roles:
            raise Forbidden("Your account cannot do this.")
        return self


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


def _token_hash(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def login(engine: sa.Engine, username: str, password: str, ip: str, kind: str = "bearer") -> tuple[str, Principal]:
    """Check the password (throttled per account and per address) and open a session; return its token."""
    from core.schemas import clean_text

    username = clean_text(username or "").lower()[:64]
    password = (password or "").replace("\x00", "")
    now = utcnow()
    with Session(engine) as s:
        since = now - FAILURE_WINDOW
        by_user = s.exec(select(sa.func.count()).select_from(LoginFailure).where(
            LoginFailure.username == username, LoginFailure.at >= since)).one()
        by_ip = s.exec(select(sa.func.count()).select_from(LoginFailure).where(
            LoginFailure.ip == ip, LoginFailure.at >= since)).one()
        if by_user >= MAX_FAILURES_PER_ACCOUNT or by_ip >= MAX_FAILURES_PER_IP:
            raise Throttled(int(FAILURE_WINDOW.total_seconds()))
        user = s.exec(select(UserAccount).where(UserAccount.username == username)).first()
    ok = verify_password(user.password_hash if user else _DUMMY_HASH, password or "")
    if not ok or user is None or not user.active:
        with session_scope(engine) as s:
            s.add(LoginFailure(username=username, ip=ip[:45]))
        LOGIN_FAILURES.inc()
        raise AuthFailed("Wrong username or password.")
    token = secrets.token_urlsafe(32)
    with session_scope(engine) as s:
        s.add(AuthSession(token_hash=_token_hash(token), user_id=user.id, kind=kind, expires_at=now + SESSION_TTL[kind]))  # type: ignore[arg-type]
        s.execute(sa.delete(LoginFailure).where(col(LoginFailure.username) == username))
    return token, _principal(engine, user)


def _principal(engine: sa.Engine, user: UserAccount) -> Principal:
    tech_id = None
    if user.role == "technician":
        with Session(engine) as s:
            tech_id = s.exec(select(Technician.id).where(Technician.user_id == user.id)).first()
    return Principal(user.id, user.username, user.display_name, user.role, tech_id)  # type: ignore[arg-type]


# Built once: every staff call runs it.
_PRINCIPAL = (
    select(UserAccount.id, UserAccount.username, UserAccount.display_name, UserAccount.role, Technician.id)
    .select_from(AuthSession)
    .join(UserAccount, col(UserAccount.id) == AuthSession.user_id)
    .outerjoin(Technician, col(Technician.user_id) == UserAccount.id)
    .where(AuthSession.token_hash == sa.bindparam("token_hash"), col(AuthSession.revoked_at).is_(None),
           AuthSession.expires_at > sa.bindparam("now"), col(UserAccount.active))
)


def principal_for(engine: sa.Engine, token: str | None) -> Principal | None:
    """The account behind a live session token, or None."""
    if not token or len(token) > 128:
        return None
    with autocommit(engine).connect() as c:
        row = c.execute(_PRINCIPAL, {"token_hash": _token_hash(token), "now": utcnow()}).first()
    if row is None:
        return None
    user_id, username, name, role, tech_id = row
    return Principal(user_id, username, name, role, tech_id if role == "technician" else None)


def logout(engine: sa.Engine, token: str) -> None:
    """Revoke a session server-side: the token stops working at once."""
    with session_scope(engine) as s:
        s.execute(sa.update(AuthSession).where(col(AuthSession.token_hash) == _token_hash(token))
                  .values(revoked_at=utcnow()))
