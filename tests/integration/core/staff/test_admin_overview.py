"""`/admin` reads everything it lists in one call: technicians, accounts and the prices in force."""

from __future__ import annotations

from core.context import Core
from core.principal import Role
from core.requests.pricing import DEFAULT_PRICES
from core.staff import admin
from core.staff.views import admin_overview
from tests.factories import add_principal, add_technicians


def test_the_overview_lists_technicians_by_name_accounts_by_role_and_the_saved_prices(core: Core) -> None:
    add_technicians(core, 1, seed=1, name="Zara Wheel")
    add_technicians(core, 1, seed=2, name="Adam Tread")
    root = add_principal(core, Role.ADMIN, "root")
    add_principal(core, Role.DISPATCHER, "dana")
    admin.save_prices(core, root, {"callout_pence": DEFAULT_PRICES.callout_pence + 500})

    view = admin_overview(core, root)

    assert [t.name for t in view.technicians] == ["Adam Tread", "Zara Wheel"], "technicians are listed by name"
    assert [(u.role, u.username) for u in view.staff] == [("admin", "root"), ("dispatcher", "dana")], \
        "accounts are listed by role, then username"
    assert view.prices["callout_pence"] == DEFAULT_PRICES.callout_pence + 500, "a saved price overrides the default"
    assert view.prices["night_start_hour"] == DEFAULT_PRICES.night_start_hour, "an unsaved price keeps its default"


def test_a_technician_row_shows_the_van_and_capabilities_on_one_line_each(core: Core) -> None:
    (tid,) = add_technicians(core, 1, seed=3, name="Cara Rim", capabilities=["run_flat", "van"])
    root = add_principal(core, Role.ADMIN, "root")

    (row,) = admin_overview(core, root).technicians

    assert row.id == tid, "the row names the stored technician"
    assert row.caps == "run_flat, van", "capabilities are one comma-separated line"
    assert row.van.strip() != "", "the van registration is shown"
