"""`/admin` reads everything it lists in one call: technicians, accounts and the prices in force."""

from __future__ import annotations

import pytest

from core.context import Core
from core.errors import ValidationFailed
from core.principal import Role
from core.requests.pricing import DEFAULT_PRICES
from core.staff import admin
from core.staff.price_preview import preview_prices
from core.staff.views import TableQuery, admin_overview
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
    assert row.caps == "Run-flat tyres, Vans", "capabilities are one line, in words"
    assert row.van.strip() != "", "the van registration is shown"


def test_the_technicians_are_searched_filtered_and_paged_in_the_core(core: Core) -> None:
    for i in range(30):
        add_technicians(core, 1, seed=100 + i, name=f"Tech {i:02d}", status="offline")
    add_technicians(core, 1, seed=200, name="Rhys Valve", status="available")
    root = add_principal(core, Role.ADMIN, "root")

    first = admin_overview(core, root, technicians=TableQuery(size=10))
    assert len(first.technicians) == 10, "the first page holds ten rows"
    assert first.technicians_page.total == 31 and first.technicians_page.pages == 4, "total and pages are counted"
    last = admin_overview(core, root, technicians=TableQuery(size=10, page=4))
    assert len(last.technicians) == 1, "the last page holds what is left"
    beyond = admin_overview(core, root, technicians=TableQuery(size=10, page=99))
    assert beyond.technicians_page.number == 4, "a page past the end shows the last page"
    found = admin_overview(core, root, technicians=TableQuery(text="rhys"))
    assert [t.name for t in found.technicians] == ["Rhys Valve"], "a search matches names, ignoring case"
    available = admin_overview(core, root, technicians=TableQuery(filter="available"))
    assert [t.name for t in available.technicians] == ["Rhys Valve"], "the filter keeps one shift status"
    assert available.technicians[0].status_label == "Available", "the status is shown in words"
    admin.set_technician_active(core, root, found.technicians[0].id, False)
    gone = admin_overview(core, root, technicians=TableQuery(filter="deactivated"))
    assert [t.name for t in gone.technicians] == ["Rhys Valve"], "deactivated technicians are a filter of their own"


def test_a_search_with_wildcards_matches_them_literally(core: Core) -> None:
    add_technicians(core, 1, seed=300, name="Plain Name")
    root = add_principal(core, Role.ADMIN, "root")
    assert admin_overview(core, root, technicians=TableQuery(text="%")).technicians == [], "% is not a wildcard"


def test_accounts_are_searched_and_filtered_by_role(core: Core) -> None:
    root = add_principal(core, Role.ADMIN, "root")
    add_principal(core, Role.DISPATCHER, "dana")
    add_principal(core, Role.DISPATCHER, "dave")
    dispatchers = admin_overview(core, root, accounts=TableQuery(filter="dispatcher"))
    assert [u.username for u in dispatchers.staff] == ["dana", "dave"], "the role filter keeps dispatchers"
    assert dispatchers.staff[0].role_label == "Dispatcher", "the role is shown in words"
    assert [u.username for u in admin_overview(core, root, accounts=TableQuery(text="DAV")).staff] == ["dave"], \
        "a search matches usernames, ignoring case"


def test_bad_search_input_is_refused_per_field(core: Core) -> None:
    root = add_principal(core, Role.ADMIN, "root")
    with pytest.raises(ValidationFailed) as e:
        admin_overview(core, root, technicians=TableQuery(filter="sleeping", page=0), accounts=TableQuery(filter="x"))
    assert set(e.value.errors) == {"technicians_filter", "technicians_page", "accounts_filter"}, e.value.errors


def test_a_price_preview_shows_old_and_new_in_pounds_and_the_example_quote_without_saving(core: Core) -> None:
    root = add_principal(core, Role.ADMIN, "root")
    preview = preview_prices(core, root, {"callout_pence": 5900, "night_pct": DEFAULT_PRICES.night_pct})
    assert [(c.label, c.old, c.new) for c in preview.changes] == [("Call-out charge", "£49.00", "£59.00")], \
        "only the changed price is listed, old and new in pounds"
    assert preview.example_old == "£138.00" and preview.example_new == "£148.00", \
        "the example quote goes up by the call-out's £10"
    assert admin_overview(core, root).prices["callout_pence"] == DEFAULT_PRICES.callout_pence, "nothing is saved"
