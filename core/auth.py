"""Staff accounts: password hashing (Argon2) and account creation."""

from __future__ import annotations

from argon2 import PasswordHasher
from argon2.exceptions import VerificationError

from core.models import UserAccount

ROLES = ("admin", "dispatcher", "technician")
_hasher = PasswordHasher()


def hash_password(password: str) -> str:
    return _hasher.hash(password)


def verify_password(password_hash: str, password: str) -> bool:
    try:
        return _hasher.verify(password_hash, password)
    except VerificationError:
        return False


def new_account(username: str, display_name: str, role: str, password: str) -> UserAccount:
    if role not in ROLES:
        raise ValueError(f"role must be one of {', '.join(ROLES)}")
    return UserAccount(username=username, display_name=display_name, role=role, password_hash=hash_password(password))
