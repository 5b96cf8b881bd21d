"""Administration: technicians and vans, staff accounts, the price table. Validated like everything else."""

from __future__ import annotations

import dataclasses
import re
import threading
import time

import sqlalchemy as sa
from cryptography.fernet import InvalidToken
from pydantic import BaseModel, Field, field_validator
from sqlalchemy.exc import IntegrityError
from sqlmodel import Session, col, select

from core.context import Core
from core.dispatch.auto import resync_technician
from core.errors import Conflict, NotFound, ValidationFailed
from core.infra.db import session_scope
from core.models import AuthSession, PriceSetting, ServiceRequest, Technician, UserAccount, utcnow
from core.phones import normalise_uk_mobile
from core.principal import ROLES, Principal, Role
from core.privacy.retention import audit
from core.requests.pricing import PriceTable
from core.schemas import CAPABILITIES, clean_text
from core.staff.auth import hash_password, new_account, sessions_revoked
from core.staff.views import accounts_by_role, saved_prices, technicians_by_name

_USERNAME = re.compile(r"^[a-z0-9._-]{3,64}$")
# Every service here is an admin's; the system may also create accounts and technicians (demo seeding).
_ADMIN = (Role.ADMIN,)
_ADMIN_OR_SEEDING = (Role.ADMIN, Role.SYSTEM)


class TechnicianIn(BaseModel):
    name: str = Field(min_length=1, max_length=100)
    van_reg: str = Field(min_length=2, max_length=12)
    van_label: str = Field("", max_length=60)
    capabilities: list[str] = []
    home_base: str = Field("", max_length=80)
    username: str | None = Field(None, max_length=64)
    password: str | None = Field(None, max_length=256)
    # The technician's mobile, for job offers by text. On update: left out keeps the stored number, null or
    # "" removes it. Stored encrypted (E.164), never returned in full by a list.
    phone: str | None = Field(None, description="UK mobile for job offers by text; null or \"\" removes it")

    _clean = field_validator("name", "van_reg", "van_label", "home_base", mode="before")(clean_text)

    @field_validator("phone", mode="before")
    @classmethod
    def _mobile(cls, v: object) -> object:
        if not isinstance(v, str):
            return v  # None removes; anything else gets pydantic's type error
        if not v.strip():
            return ""
        if len(v) > 32:
            raise ValueError("That is too long for a phone number. Use a UK mobile, e.g. 07911 123456.")
        try:
            return normalise_uk_mobile(v)
        except ValidationFailed as e:
            raise ValueError(e.errors["phone"].replace("so we can text you updates", "so job offers can go by text")
                             ) from None

    @property
    def phone_given(self) -> bool:
        """Whether the caller said anything about the mobile (an update leaves it alone otherwise)."""
        return "phone" in self.model_fields_set

    @field_validator("capabilities")
    @classmethod
    def _known(cls, v: list[str]) -> list[str]:
        unknown = set(v) - set(CAPABILITIES)
        if unknown:
            raise ValueError(f"unknown capability {', '.join(sorted(unknown))}; choose from {', '.join(CAPABILITIES)}")
        return sorted(set(v))


class StaffIn(BaseModel):
    username: str = Field(min_length=3, max_length=64)
    display_name: str = Field(min_length=1, max_length=100)
    role: str
    password: str = Field(min_length=12, max_length=256)

    @field_validator("username")
    @classmethod
    def _username(cls, v: str) -> str:
        v = v.strip().lower()
        if not _USERNAME.match(v):
            raise ValueError("3-64 characters: lower-case letters, digits, dot, dash, underscore")
        return v

    @field_validator("role")
    @classmethod
    def _role(cls, v: str) -> str:
        if v not in ROLES:
            raise ValueError(f"role is one of {', '.join(ROLES)}")
        return v


def create_technician(core: Core, who: Principal, data: TechnicianIn) -> int:
    """A technician (off shift) and, when a username is given, their login."""
    who.require(*_ADMIN_OR_SEEDING)
    try:
        with session_scope(core.engine) as s:
            user_id = None
            if data.username:
                staff = StaffIn(username=data.username, display_name=data.name, role=Role.TECHNICIAN,
                                password=data.password or "")
                user = new_account(staff.username, staff.display_name, Role.TECHNICIAN, staff.password)
                s.add(user)
                s.flush()
                user_id = user.id
            t = Technician(name=data.name, van_reg=data.van_reg.upper(), van_label=data.van_label,
                           capabilities=data.capabilities, home_base=data.home_base, user_id=user_id,
                           phone_enc=core.vault.encrypt(data.phone) if data.phone else None)
            s.add(t)
            s.flush()
            assert t.id is not None  # flushed: the database gave it an id
            tid = t.id
    except IntegrityError:
        raise ValidationFailed({"username": "That username is taken."}) from None
    audit(core, who, "technician_created", target=data.name, id=tid, **({"mobile": "set"} if data.phone else {}))
    return tid


def _stored_number(core: Core, enc: str | None) -> str | None:
    if not enc:
        return None
    try:
        return core.vault.decrypt(enc)
    except InvalidToken:
        return None  # under a key no longer configured: whatever is given replaces it


def _mobile_change(core: Core, t: Technician, data: TechnicianIn) -> str | None:
    """Apply the update's mobile to `t`; what happened to it ("set", "changed", "removed"), None if nothing.
    The audit records this word, never the number."""
    if not data.phone_given:
        return None
    old, new = _stored_number(core, t.phone_enc), data.phone or None
    if old == new and (new is not None or not t.phone_enc):
        return None
    t.phone_enc = core.vault.encrypt(new) if new else None
    return "removed" if new is None else "set" if old is None else "changed"


def update_technician(core: Core, who: Principal, tech_id: int, data: TechnicianIn) -> None:
    who.require(*_ADMIN)
    with session_scope(core.engine) as s:
        t = s.get(Technician, tech_id)
        if t is None:
            raise NotFound("no such technician")
        t.name, t.van_reg, t.van_label = data.name, data.van_reg.upper(), data.van_label
        t.capabilities, t.home_base = data.capabilities, data.home_base
        mobile = _mobile_change(core, t, data)
        s.add(t)
    resync_technician(core, tech_id)
    audit(core, who, "technician_updated", target=str(tech_id), **({"mobile": mobile} if mobile else {}))


def set_technician_active(core: Core, who: Principal, tech_id: int, active: bool) -> None:
    """Deactivate (never on a live job) or reactivate; an inactive technician is never offered."""
    who.require(*_ADMIN)
    with session_scope(core.engine) as s:
        t = s.exec(select(Technician).where(Technician.id == tech_id).with_for_update()).first()
        if t is None:
            raise NotFound("no such technician")
        busy = s.exec(select(ServiceRequest.reference).where(
            ServiceRequest.technician_id == tech_id,
            col(ServiceRequest.status).in_(("assigned", "en_route", "on_site")))).first()
        if busy and not active:
            raise Conflict(f"{t.name} is on job {busy}: reassign it first.")
        t.active = active
        if not active:
            t.status = "offline"
        s.add(t)
    resync_technician(core, tech_id)
    audit(core, who, "technician_active", target=str(tech_id), active=active)


def create_staff(core: Core, who: Principal, data: StaffIn) -> int:
    who.require(*_ADMIN_OR_SEEDING)
    try:
        with session_scope(core.engine) as s:
            user = new_account(data.username, data.display_name, data.role, data.password)
            s.add(user)
            s.flush()
            assert user.id is not None  # flushed: the database gave it an id
            uid = user.id
    except IntegrityError:
        raise ValidationFailed({"username": "That username is taken."}) from None
    audit(core, who, "account_created", target=data.username, role=data.role)
    return uid


def reset_password(core: Core, who: Principal, user_id: int, password: str) -> None:
    """New password; every open session of the account ends."""
    who.require(*_ADMIN)
    if len(password or "") < 12:
        raise ValidationFailed({"password": "At least 12 characters."})
    with session_scope(core.engine) as s:
        user = s.get(UserAccount, user_id)
        if user is None:
            raise NotFound("no such account")
        user.password_hash = hash_password(password)
        s.add(user)
        s.execute(sa.update(AuthSession)
                  .where(col(AuthSession.user_id) == user_id, col(AuthSession.revoked_at).is_(None))
                  .values(revoked_at=utcnow()))
    sessions_revoked(core, user_id=user_id)
    audit(core, who, "password_reset", target=str(user_id))


def set_staff_active(core: Core, who: Principal, user_id: int, active: bool) -> None:
    who.require(*_ADMIN)
    with session_scope(core.engine) as s:
        user = s.get(UserAccount, user_id)
        if user is None:
            raise NotFound("no such account")
        user.active = active
        s.add(user)
        if not active:
            s.execute(sa.update(AuthSession).where(col(AuthSession.user_id) == user_id).values(revoked_at=utcnow()))
    if not active:
        sessions_revoked(core, user_id=user_id)
    audit(core, who, "account_active", target=str(user_id), active=active)


def list_staff(core: Core, who: Principal) -> list[UserAccount]:
    who.require(*_ADMIN)
    with Session(core.engine) as s:
        return accounts_by_role(s)


def list_technicians(core: Core, who: Principal) -> list[Technician]:
    who.require(*_ADMIN)
    with Session(core.engine) as s:
        return technicians_by_name(s)


_price_cache: dict[int, tuple[float, PriceTable]] = {}  # per engine
_price_lock = threading.Lock()


def price_table(core: Core, max_age_s: float = 10.0) -> PriceTable:
    """The current prices: defaults overridden by what admins saved (read at most every few seconds).

    Not guarded: pricing reads it for every quote, and prices are no secret."""
    with _price_lock:
        hit = _price_cache.get(id(core.engine))
        if hit and time.monotonic() - hit[0] < max_age_s:
            return hit[1]
    with Session(core.engine) as s:
        table = saved_prices(s)
    with _price_lock:
        _price_cache[id(core.engine)] = (time.monotonic(), table)
    return table


def save_prices(core: Core, who: Principal, values: dict[str, int]) -> PriceTable:
    who.require(*_ADMIN)
    fields = {f.name for f in dataclasses.fields(PriceTable)}
    errors = {k: "unknown price" for k in values if k not in fields}
    errors |= {k: "must be a whole number from 0 to 100000" for k, v in values.items()
               if k in fields and (not isinstance(v, int) or isinstance(v, bool) or not 0 <= v <= 100_000)}
    for hour in ("night_start_hour", "night_end_hour"):
        if hour in values and hour not in errors and not 0 <= values[hour] <= 23:
            errors[hour] = "an hour from 0 to 23"
    if errors:
        raise ValidationFailed(errors)
    with session_scope(core.engine) as s:
        for k, v in values.items():
            s.merge(PriceSetting(name=k, value=v, updated_by=who.name[:100], updated_at=utcnow()))
    audit(core, who, "prices_changed", "", **values)
    return price_table(core, max_age_s=0)
