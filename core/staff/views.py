"""What the admin page shows, read in one call: technicians, staff accounts and the price table.

The two tables are searched, filtered and paged here (in SQL), not on the page: a fleet of thousands
sends the page one screenful."""

from __future__ import annotations

import dataclasses
import math
from typing import Any

import sqlalchemy as sa
from pydantic import BaseModel
from sqlmodel import Session, col, func, select

from core import labels
from core.context import Core
from core.errors import NotFound, ValidationFailed
from core.models import PriceSetting, Technician, UserAccount
from core.phones import PhoneVault, masked_stored
from core.principal import ROLES, Principal, Role
from core.requests.pricing import DEFAULT_PRICES, PriceTable
from core.states import TechStatus

PAGE_SIZE = 25
MAX_PAGE_SIZE = 200
MAX_QUERY = 100
# The technicians' filter: a shift status, or whether the account is deactivated.
TECH_FILTERS = ("", *(str(s) for s in TechStatus), "deactivated")


class TechnicianRow(BaseModel):
    """A technician as the admin table lists them: van and capabilities as one line each, in words."""

    id: int
    name: str
    van: str
    caps: str
    status: str  # the code (for filters and tests)
    status_label: str  # what the page shows
    active: bool
    mobile: str = ""  # masked ("07700 ••• 123"), "" when none: a list never carries the whole number

    @classmethod
    def of(cls, t: Technician, vault: PhoneVault) -> TechnicianRow:
        assert t.id is not None, "a stored technician has an id"
        return cls(id=t.id, name=t.name, van=f"{t.van_reg} {t.van_label}".strip(),
                   caps=labels.capabilities(t.capabilities), status=t.status,
                   status_label=labels.tech_status(t.status) if t.active else "Deactivated", active=t.active,
                   mobile=masked_stored(vault, t.phone_enc))


class TechnicianEdit(BaseModel):
    """One technician as the edit form starts: every field but the mobile, which is shown masked only
    (the form replaces or removes it, it never shows it whole)."""

    id: int
    name: str
    van_reg: str
    van_label: str
    capabilities: list[str]
    home_base: str
    mobile: str  # masked, "" when none


def technician_for_edit(core: Core, who: Principal, tech_id: int) -> TechnicianEdit:
    """What the admin's edit form of one technician starts from."""
    who.require(Role.ADMIN)
    with Session(core.engine) as s:
        t = s.get(Technician, tech_id)
        if t is None:
            raise NotFound("no such technician")
        return TechnicianEdit(id=tech_id, name=t.name, van_reg=t.van_reg, van_label=t.van_label,
                              capabilities=list(t.capabilities), home_base=t.home_base,
                              mobile=masked_stored(core.vault, t.phone_enc))


class StaffRow(BaseModel):
    """A staff account as the admin table lists it."""

    id: int
    username: str
    name: str
    role: str
    role_label: str
    active: bool

    @classmethod
    def of(cls, u: UserAccount) -> StaffRow:
        assert u.id is not None, "a stored account has an id"
        return cls(id=u.id, username=u.username, name=u.display_name, role=u.role, role_label=labels.role(u.role),
                   active=u.active)


class PageInfo(BaseModel):
    """Which page of a table is shown: 1-based `number` of `pages`, `total` rows matching."""

    number: int
    pages: int
    total: int
    size: int

    @property
    def first_row(self) -> int:
        return 0 if self.total == 0 else (self.number - 1) * self.size + 1


class AdminOverview(BaseModel):
    """Everything `/admin` lists, from one database session."""

    technicians: list[TechnicianRow]
    technicians_page: PageInfo
    staff: list[StaffRow]
    staff_page: PageInfo
    prices: dict[str, int]


@dataclasses.dataclass(frozen=True)
class TableQuery:
    """A search of one admin table: text (matched anywhere in names, usernames, vans), a filter, a page."""

    text: str = ""
    filter: str = ""
    page: int = 1
    size: int = PAGE_SIZE


def saved_prices(s: Session) -> PriceTable:
    """The defaults overridden by what admins saved."""
    saved = {p.name: p.value for p in s.exec(select(PriceSetting)).all()}
    fields = {f.name for f in dataclasses.fields(PriceTable)}
    return dataclasses.replace(DEFAULT_PRICES, **{k: v for k, v in saved.items() if k in fields})


def technicians_by_name(s: Session) -> list[Technician]:
    return list(s.exec(select(Technician).order_by(col(Technician.name))).all())


def accounts_by_role(s: Session) -> list[UserAccount]:
    return list(s.exec(select(UserAccount).order_by(col(UserAccount.role), col(UserAccount.username))).all())


def _like(text: str) -> str:
    escaped = text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
    return f"%{escaped}%"


def _check(q: TableQuery, filters: tuple[str, ...], name: str) -> dict[str, str]:
    errors: dict[str, str] = {}
    if len(q.text) > MAX_QUERY:
        errors[f"{name}_query"] = f"Search for at most {MAX_QUERY} characters."
    if q.filter not in filters:
        errors[f"{name}_filter"] = f"Choose one of: {', '.join(f or 'all' for f in filters)}."
    if q.page < 1:
        errors[f"{name}_page"] = "Pages are numbered from 1."
    if not 1 <= q.size <= MAX_PAGE_SIZE:
        errors[f"{name}_size"] = f"A page holds 1 to {MAX_PAGE_SIZE} rows."
    return errors


def _page(s: Session, stmt: Any, q: TableQuery, order: list[Any]) -> tuple[list[Any], PageInfo]:
    """One page of `stmt`; a page past the end shows the last page."""
    total = s.exec(select(func.count()).select_from(stmt.subquery())).one()
    pages = max(1, math.ceil(total / q.size))
    number = min(q.page, pages)
    rows = list(s.exec(stmt.order_by(*order).offset((number - 1) * q.size).limit(q.size)).all())
    return rows, PageInfo(number=number, pages=pages, total=total, size=q.size)


def _technicians(s: Session, q: TableQuery, vault: PhoneVault) -> tuple[list[TechnicianRow], PageInfo]:
    stmt = select(Technician)
    if text := q.text.strip():
        like = _like(text)
        stmt = stmt.where(sa.or_(col(Technician.name).ilike(like), col(Technician.van_reg).ilike(like),
                                 col(Technician.van_label).ilike(like), col(Technician.home_base).ilike(like)))
    if q.filter == "deactivated":
        stmt = stmt.where(~col(Technician.active))
    elif q.filter:
        stmt = stmt.where(col(Technician.active), col(Technician.status) == q.filter)
    rows, info = _page(s, stmt, q, [col(Technician.name), col(Technician.id)])
    return [TechnicianRow.of(t, vault) for t in rows], info


def _accounts(s: Session, q: TableQuery) -> tuple[list[StaffRow], PageInfo]:
    stmt = select(UserAccount)
    if text := q.text.strip():
        like = _like(text)
        stmt = stmt.where(sa.or_(col(UserAccount.username).ilike(like), col(UserAccount.display_name).ilike(like)))
    if q.filter:
        stmt = stmt.where(col(UserAccount.role) == q.filter)
    rows, info = _page(s, stmt, q, [col(UserAccount.role), col(UserAccount.username)])
    return [StaffRow.of(u) for u in rows], info


def admin_overview(core: Core, who: Principal, technicians: TableQuery | None = None,
                   accounts: TableQuery | None = None) -> AdminOverview:
    """The admin page's read model: one page of technicians (by name) and of accounts (by role, then
    username), each searched and filtered as asked, and the current prices. Technicians filter by shift
    status or "deactivated"; accounts by role. Bad search input raises `ValidationFailed` per field."""
    who.require(Role.ADMIN)
    tq, aq = technicians or TableQuery(), accounts or TableQuery()
    errors = _check(tq, TECH_FILTERS, "technicians") | _check(aq, ("", *ROLES), "accounts")
    if errors:
        raise ValidationFailed(errors)
    with Session(core.engine) as s:
        techs, tech_page = _technicians(s, tq, core.vault)
        staff, staff_page = _accounts(s, aq)
        return AdminOverview(technicians=techs, technicians_page=tech_page, staff=staff, staff_page=staff_page,
                             prices=dataclasses.asdict(saved_prices(s)))
