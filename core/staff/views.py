"""What the admin page shows, read in one call: technicians, staff accounts and the price table."""

from __future__ import annotations

import dataclasses

from pydantic import BaseModel
from sqlmodel import Session, col, select

from core.context import Core
from core.models import PriceSetting, Technician, UserAccount
from core.principal import Principal, Role
from core.requests.pricing import DEFAULT_PRICES, PriceTable


class TechnicianRow(BaseModel):
    """A technician as the admin table lists them: van and capabilities as one line each."""

    id: int
    name: str
    van: str
    caps: str
    status: str
    active: bool

    @classmethod
    def of(cls, t: Technician) -> TechnicianRow:
        assert t.id is not None, "a stored technician has an id"
        return cls(id=t.id, name=t.name, van=f"{t.van_reg} {t.van_label}".strip(), caps=", ".join(t.capabilities),
                   status=t.status, active=t.active)


class StaffRow(BaseModel):
    """A staff account as the admin table lists it."""

    id: int
    username: str
    name: str
    role: str
    active: bool

    @classmethod
    def of(cls, u: UserAccount) -> StaffRow:
        assert u.id is not None, "a stored account has an id"
        return cls(id=u.id, username=u.username, name=u.display_name, role=u.role, active=u.active)


class AdminOverview(BaseModel):
    """Everything `/admin` lists, from one database session."""

    technicians: list[TechnicianRow]
    staff: list[StaffRow]
    prices: dict[str, int]


def saved_prices(s: Session) -> PriceTable:
    """The defaults overridden by what admins saved."""
    saved = {p.name: p.value for p in s.exec(select(PriceSetting)).all()}
    fields = {f.name for f in dataclasses.fields(PriceTable)}
    return dataclasses.replace(DEFAULT_PRICES, **{k: v for k, v in saved.items() if k in fields})


def technicians_by_name(s: Session) -> list[Technician]:
    return list(s.exec(select(Technician).order_by(col(Technician.name))).all())


def accounts_by_role(s: Session) -> list[UserAccount]:
    return list(s.exec(select(UserAccount).order_by(col(UserAccount.role), col(UserAccount.username))).all())


def admin_overview(core: Core, who: Principal) -> AdminOverview:
    """The admin page's read model: technicians by name, accounts by role then username, current prices."""
    who.require(Role.ADMIN)
    with Session(core.engine) as s:
        return AdminOverview(technicians=[TechnicianRow.of(t) for t in technicians_by_name(s)],
                             staff=[StaffRow.of(u) for u in accounts_by_role(s)],
                             prices=dataclasses.asdict(saved_prices(s)))
