"""Every public service of the staff modules names who acts, right after the core: a new one cannot be
added without it unless it is listed here with the reason it needs no principal."""

from __future__ import annotations

import inspect
from types import ModuleType

import pytest

from core.dispatch import console, manual
from core.errors import Forbidden
from core.notify import push_subscriptions
from core.principal import ROLES, Principal, Role
from core.privacy import retention
from core.staff import admin, price_preview
from core.staff import views as staff_views
from core.technicians import jobs, views

# Public functions that take no principal, and why.
UNGUARDED = {
    "core.staff.admin.price_table": "pricing reads it for every quote; prices are public",
    "core.privacy.retention.apply_retention": "the system's own hourly job; nobody calls it on a staff member's behalf",
    "core.technicians.jobs.record_positions": "the API passes the calling technician's own id",
    "core.technicians.jobs.expire_unanswered_offers": "the system's own sweep",
    "core.technicians.jobs.acting_for": "the check itself (takes the principal first)",
    "core.staff.views.saved_prices": "reads inside a session a guarded service (or public pricing) opened",
    "core.staff.views.technicians_by_name": "reads inside a session a guarded admin service opened",
    "core.staff.views.accounts_by_role": "reads inside a session a guarded admin service opened",
    "core.staff.price_preview.parse_price_form": "turns typed text into numbers; reads and writes nothing",
    "core.staff.price_preview.pounds": "formats a number",
    "core.staff.price_preview.shown": "formats a number",
    "core.staff.price_preview.typed": "formats a number",
    "core.notify.push_subscriptions.vapid_public_key": "the public half of our key, from the settings",
    "core.notify.push_subscriptions.signing_key": "the relay's own key, from the settings",
    "core.notify.push_subscriptions.endpoint_problem": "checks a URL; reads and writes nothing",
}
MODULES = (admin, staff_views, price_preview, console, manual, retention, jobs, views, push_subscriptions)


def _services(module: ModuleType) -> list[tuple[str, inspect.Signature]]:
    return [
        (f"{module.__name__}.{name}", inspect.signature(fn))
        for name, fn in inspect.getmembers(module, inspect.isfunction)
        if fn.__module__ == module.__name__ and not name.startswith("_")
    ]


@pytest.mark.parametrize("module", MODULES, ids=lambda m: m.__name__)
def test_every_public_staff_service_takes_who_as_its_second_argument(module: ModuleType) -> None:
    services = _services(module)
    assert services
    for name, sig in services:
        if name in UNGUARDED:
            continue
        params = list(sig.parameters.values())
        assert [p.name for p in params[:2]] == ["core", "who"], f"{name}{sig} does not name who acts"
        assert params[1].annotation in ("Principal", Principal), f"{name}: `who` is not a Principal"


def test_every_exemption_still_exists() -> None:
    names = {name for module in MODULES for name, _ in _services(module)}
    assert set(UNGUARDED) <= names, set(UNGUARDED) - names


def test_the_system_principal_has_no_account_and_no_account_role() -> None:
    who = Principal.system("sweeper")
    assert who.user_id is None, f"who.user_id is {who.user_id!r}, wanted None"
    assert who.role == Role.SYSTEM, f"who.role is {who.role!r}, wanted Role.SYSTEM"
    assert who.technician_id is None, f"who.technician_id is {who.technician_id!r}, wanted None"
    assert who.name == "sweeper", f"who.name is {who.name!r}, wanted 'sweeper'"
    assert Role.SYSTEM not in ROLES, "Role.SYSTEM should not be in ROLES"
    assert set(ROLES) == {"admin", "dispatcher", "technician"}, (
        "wanted set(ROLES) == {'admin', 'dispatcher', 'technician'}"
    )
    with pytest.raises(Forbidden, match="Your account cannot do this."):
        who.require(Role.ADMIN, Role.DISPATCHER, Role.TECHNICIAN)
    assert who.actor_columns() == {"actor": "sweeper", "actor_id": None, "actor_role": "system"}


def test_a_technician_acts_for_themselves_only_and_the_system_for_whoever_it_names() -> None:
    me = Principal(7, "tech", "Tech", Role.TECHNICIAN, 70)
    assert jobs.acting_for(me) == jobs.acting_for(me, 70) == 70
    with pytest.raises(Forbidden):
        jobs.acting_for(me, 71)
    assert jobs.acting_for(Principal.system("sim"), 71) == 71
    for who in (Principal.system("sim"), Principal(1, "a", "A", Role.ADMIN, None),
                Principal(2, "d", "D", Role.DISPATCHER, None)):
        with pytest.raises(Forbidden):
            jobs.acting_for(who, None if who.role == Role.SYSTEM else 70)
