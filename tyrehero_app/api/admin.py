"""Admin API: technicians and vans, staff accounts, prices. Admin only."""

from __future__ import annotations

import dataclasses

from fastapi import APIRouter, Query
from pydantic import BaseModel, Field

from core.phones import masked_stored
from core.privacy import retention
from core.staff import admin
from tyrehero_app.api.deps import CurrentAdmin
from tyrehero_app.runtime import get_core

router = APIRouter(prefix="/api/v1/admin", tags=["admin"], responses={401: {}, 403: {}, 422: {}})


class Created(BaseModel):
    id: int


class ActiveIn(BaseModel):
    active: bool


class PasswordIn(BaseModel):
    password: str = Field(min_length=12, max_length=256)


class StaffOut(BaseModel):
    id: int
    username: str
    display_name: str
    role: str
    active: bool


@router.get("/technicians")
def list_technicians(who: CurrentAdmin) -> list[dict]:
    """Every technician; `mobile` is masked ("07700 ••• 123"), "" when none is on file."""
    core = get_core()
    return [
        t.model_dump(include={"id", "name", "van_reg", "van_label", "capabilities", "home_base", "status", "active"})
        | {"mobile": masked_stored(core.vault, t.phone_enc)}
        for t in admin.list_technicians(core, who)
    ]


@router.post("/technicians", status_code=201, response_model=Created)
def create_technician(body: admin.TechnicianIn, who: CurrentAdmin) -> Created:
    return Created(id=admin.create_technician(get_core(), who, body))


@router.put("/technicians/{tech_id}", status_code=204, responses={404: {}})
def update_technician(tech_id: int, body: admin.TechnicianIn, who: CurrentAdmin) -> None:
    """Replace the technician's details; `phone` left out keeps their mobile, null or "" removes it."""
    admin.update_technician(get_core(), who, tech_id, body)


@router.post("/technicians/{tech_id}/active", status_code=204, responses={404: {}, 409: {}})
def technician_active(tech_id: int, body: ActiveIn, who: CurrentAdmin) -> None:
    admin.set_technician_active(get_core(), who, tech_id, body.active)


@router.get("/users", response_model=list[StaffOut])
def list_users(who: CurrentAdmin) -> list[StaffOut]:
    return [StaffOut.model_validate(u, from_attributes=True) for u in admin.list_staff(get_core(), who)]


@router.post("/users", status_code=201, response_model=Created)
def create_user(body: admin.StaffIn, who: CurrentAdmin) -> Created:
    return Created(id=admin.create_staff(get_core(), who, body))


@router.post("/users/{user_id}/password", status_code=204, responses={404: {}})
def reset_password(user_id: int, body: PasswordIn, who: CurrentAdmin) -> None:
    admin.reset_password(get_core(), who, user_id, body.password)


@router.post("/users/{user_id}/active", status_code=204, responses={404: {}})
def user_active(user_id: int, body: ActiveIn, who: CurrentAdmin) -> None:
    admin.set_staff_active(get_core(), who, user_id, body.active)


@router.get("/prices")
def get_prices(who: CurrentAdmin) -> dict[str, int]:
    return dataclasses.asdict(admin.price_table(get_core(), max_age_s=0))


@router.put("/prices")
def put_prices(body: dict[str, int], who: CurrentAdmin) -> dict[str, int]:
    """Change some prices (pence, percentages, hours); the others keep their values."""
    return dataclasses.asdict(admin.save_prices(get_core(), who, body))


class PhoneIn(BaseModel):
    phone: str = Field(min_length=1, max_length=32)


@router.post("/privacy/export")
def export_customer(body: PhoneIn, who: CurrentAdmin) -> dict:
    """Everything held about one phone number (audited)."""
    return retention.export_customer(get_core(), who, body.phone)


@router.post("/privacy/erase", responses={404: {}, 409: {}})
def erase_customer(body: PhoneIn, who: CurrentAdmin) -> dict[str, int]:
    """Anonymise a customer's closed requests (audited); refused while one is open."""
    return {"erased": retention.erase_customer(get_core(), who, body.phone)}


@router.get("/audit")
def audit_trail(who: CurrentAdmin, limit: int = Query(100, ge=1, le=1000)) -> list[dict]:
    """The latest staff actions: who (name, account id, role), what, to what, when."""
    from sqlmodel import Session, col, select

    from core.models import AuditEvent

    with Session(get_core().engine) as s:
        rows = s.exec(select(AuditEvent).order_by(col(AuditEvent.id).desc()).limit(limit)).all()
    return [r.model_dump(mode="json") for r in rows]
