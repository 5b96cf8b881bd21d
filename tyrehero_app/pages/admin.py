"""`/admin`: technicians and vans, staff accounts, prices, the texts sent. Admin only.

Mistakes are hard to make: a form with a wrong field keeps every value and says what is wrong beside the
field; a password reset, a deactivation and a price change ask first, naming what they change; prices
are typed in pounds and percent and show old -> new and an example quote before they are saved. The
tables are searched and paged by the core (`core.staff.views.admin_overview`)."""

from __future__ import annotations

import asyncio
from collections.abc import Callable

import reflex as rx
from pydantic import BaseModel, ValidationError

from core import labels
from core.errors import Conflict, Forbidden, NotFound, ValidationFailed
from core.notify.outbox import MessageLine, recent_messages
from core.principal import ROLES, Principal, Role
from core.schemas import CAPABILITIES, field_errors
from core.staff import admin
from core.staff.price_preview import PRICE_FIELDS, PriceChange, parse_price_form, preview_prices, typed
from core.staff.views import (
    TECH_FILTERS,
    StaffRow,
    TableQuery,
    TechnicianEdit,
    TechnicianRow,
    admin_overview,
    technician_for_edit,
)
from tyrehero_app.components.staff import confirm_dialog, denied_notice, staff_frame
from tyrehero_app.guard import StaffPage, guarded
from tyrehero_app.runtime import get_core

# What each field needs, in words, for pydantic's generic complaints ("String should have at least 1 character").
_FIELD_WORDS = {
    "name": "Enter the technician's full name.",
    "van_reg": "Enter the van's registration (2 to 12 letters and digits).",
    "van_label": "At most 60 characters.",
    "home_base": "At most 80 characters.",
    "username": "3 to 64 characters: lower-case letters, digits, dot, dash or underscore.",
    "display_name": "Enter the person's name as colleagues will see it.",
    "password": "At least 12 characters.",
    "role": "Choose a role.",
    "phone": "Enter a UK mobile number, e.g. 07911 123456, or leave it empty.",
}
_NOBODY = TechnicianEdit(id=0, name="", van_reg="", van_label="", capabilities=[], home_base="", mobile="")


def _technician_in(form: dict, phone: dict[str, str]) -> admin.TechnicianIn:
    """A technician form's fields; `phone` is {} (leave the mobile as it is) or {"phone": number or ""}."""
    return admin.TechnicianIn(name=form.get("name", ""), van_reg=form.get("van_reg", ""),
                              van_label=form.get("van_label", ""),
                              capabilities=[c for c in CAPABILITIES if form.get(f"cap_{c}") in ("on", True, "true")],
                              home_base=form.get("home_base", ""), username=form.get("username") or None,
                              password=form.get("password") or None, **phone)


def _words(errors: dict[str, str]) -> dict[str, str]:
    """Field errors in the page's words: the core's own sentences kept, framework wording replaced."""
    out = {}
    for field, msg in errors.items():
        name = field.split(".")[0]
        framework = msg.startswith(("String should", "this field is required", "Input should", "Field required"))
        out[name] = _FIELD_WORDS.get(name, msg) if framework else msg[:1].upper() + msg[1:]
    return out


class PendingAction(BaseModel):
    """What a confirmation dialog is about to do, and the words that name its target."""

    kind: str = ""  # "" | tech_active | staff_active
    target_id: int = 0
    active: bool = False
    title: str = ""


class AdminState(StaffPage, rx.State):
    """What the admin page shows. Every handler is admin-only, checked on each call."""

    technicians: list[TechnicianRow] = []
    staff: list[StaffRow] = []
    prices: dict[str, str] = {}
    texts: list[MessageLine] = []  # the newest texts (read-only: what the relay sent, or is trying to)
    message: str = ""
    ok: bool = True
    # tables: search, filter, page (the core pages them)
    tech_query: str = ""
    tech_filter: str = ""
    tech_page: int = 1
    tech_pages: int = 1
    tech_total: int = 0
    staff_query: str = ""
    staff_filter: str = ""
    staff_page: int = 1
    staff_pages: int = 1
    staff_total: int = 0
    # forms: inline errors; a form is emptied (remounted) only after it succeeded
    tech_errors: dict[str, str] = {}
    tech_form_key: int = 0
    editing: TechnicianEdit = _NOBODY  # the technician the edit dialog is open on (id 0: closed)
    edit_errors: dict[str, str] = {}
    staff_errors: dict[str, str] = {}
    staff_form_key: int = 0
    price_errors: dict[str, str] = {}
    # confirmations
    pending: PendingAction = PendingAction()
    reset_target: int = 0
    reset_name: str = ""
    reset_error: str = ""
    price_changes: list[PriceChange] = []
    price_example: str = ""
    price_example_old: str = ""
    price_example_new: str = ""
    price_values: dict[str, int] = {}
    price_confirm: bool = False

    @guarded(Role.ADMIN)
    async def load(self, who: Principal) -> None:
        self.user_name = who.name
        await self._reload(who)

    async def _reload(self, who: Principal) -> None:
        view = await asyncio.to_thread(
            admin_overview, get_core(), who,
            TableQuery(self.tech_query, self.tech_filter, max(1, self.tech_page)),
            TableQuery(self.staff_query, self.staff_filter, max(1, self.staff_page)))
        self.technicians, self.staff = view.technicians, view.staff
        self.tech_page, self.tech_pages, self.tech_total = (view.technicians_page.number, view.technicians_page.pages,
                                                            view.technicians_page.total)
        self.staff_page, self.staff_pages, self.staff_total = (view.staff_page.number, view.staff_page.pages,
                                                               view.staff_page.total)
        self.prices = {k: typed(k, v) for k, v in view.prices.items()}
        self.texts = await asyncio.to_thread(recent_messages, get_core(), who, 50)

    @guarded(Role.ADMIN)
    async def refresh_texts(self, who: Principal) -> None:
        self.texts = await asyncio.to_thread(recent_messages, get_core(), who, 50)

    async def _do(self, who: Principal, fn: Callable[..., object], *args: object,
                  done: str = "Saved.") -> dict[str, str] | None:
        """Run an admin service; its field errors (in words) are returned, other refusals become the message."""
        errors: dict[str, str] | None = None
        try:
            await asyncio.to_thread(fn, get_core(), who, *args)
            self.message, self.ok = done, True
        except ValidationError as e:
            errors = _words(field_errors(e))
        except ValidationFailed as e:
            errors = _words(e.errors)
        except (Conflict, NotFound, Forbidden) as e:
            self.message, self.ok = e.message, False
        if errors:
            self.message, self.ok = "Please correct the fields marked below.", False
        await self._reload(who)
        return errors

    # -- tables -------------------------------------------------------------------------------------------
    @guarded(Role.ADMIN)
    async def search_technicians(self, who: Principal, form: dict) -> None:
        self.tech_query = str(form.get("q") or "")[:100]
        f = str(form.get("status") or "")
        self.tech_filter = f if f in TECH_FILTERS else ""
        self.tech_page = 1
        await self._reload(who)

    @guarded(Role.ADMIN)
    async def technicians_page(self, who: Principal, page: int) -> None:
        self.tech_page = max(1, int(page))
        await self._reload(who)

    @guarded(Role.ADMIN)
    async def search_staff(self, who: Principal, form: dict) -> None:
        self.staff_query = str(form.get("q") or "")[:100]
        f = str(form.get("role") or "")
        self.staff_filter = f if f in ROLES else ""
        self.staff_page = 1
        await self._reload(who)

    @guarded(Role.ADMIN)
    async def staff_page_to(self, who: Principal, page: int) -> None:
        self.staff_page = max(1, int(page))
        await self._reload(who)

    # -- forms --------------------------------------------------------------------------------------------
    @guarded(Role.ADMIN)
    async def create_technician(self, who: Principal, form: dict) -> None:
        try:
            data = _technician_in(form, {"phone": str(form.get("phone") or "")})
        except ValidationError as e:
            self.tech_errors = _words(field_errors(e))
            self.message, self.ok = "Please correct the fields marked below.", False
            return
        errors = await self._do(who, admin.create_technician, data, done=f"{data.name} added (off shift).")
        self.tech_errors = errors or {}
        if errors is None and self.ok:
            self.tech_form_key += 1

    @guarded(Role.ADMIN)
    async def ask_edit(self, who: Principal, tech_id: int) -> None:
        """Open the edit dialog on one technician, read afresh (its mobile masked)."""
        try:
            self.editing = await asyncio.to_thread(technician_for_edit, get_core(), who, int(tech_id))
            self.edit_errors = {}
        except NotFound:
            self.message, self.ok = "That technician no longer exists.", False

    @guarded(Role.ADMIN)
    def cancel_edit(self, who: Principal) -> None:
        self.editing, self.edit_errors = _NOBODY, {}

    @guarded(Role.ADMIN)
    async def save_edit(self, who: Principal, form: dict) -> None:
        """Save the technician the dialog names; an empty mobile keeps the stored one, "remove" clears it."""
        target = self.editing
        if not target.id:
            return
        typed_phone = str(form.get("phone") or "").strip()
        phone = {"phone": ""} if form.get("remove_phone") in ("on", True, "true") else (
            {"phone": typed_phone} if typed_phone else {})
        try:
            data = _technician_in({**form, "username": None, "password": None}, phone)
        except ValidationError as e:
            self.edit_errors = _words(field_errors(e))
            return
        errors = await self._do(who, admin.update_technician, target.id, data, done=f"{data.name} saved.")
        if errors:
            self.edit_errors, self.message = errors, ""
        elif self.ok:
            self.editing, self.edit_errors = _NOBODY, {}

    @guarded(Role.ADMIN)
    async def create_staff(self, who: Principal, form: dict) -> None:
        try:
            data = admin.StaffIn(username=form.get("username", ""), display_name=form.get("display_name", ""),
                                 role=form.get("role", ""), password=form.get("password", ""))
        except ValidationError as e:
            self.staff_errors = _words(field_errors(e))
            self.message, self.ok = "Please correct the fields marked below.", False
            return
        errors = await self._do(who, admin.create_staff, data, done=f"Account {data.username} created.")
        self.staff_errors = errors or {}
        if errors is None and self.ok:
            self.staff_form_key += 1

    # -- confirmations ------------------------------------------------------------------------------------
    @guarded(Role.ADMIN)
    def ask_technician_active(self, who: Principal, tech_id: int, active: bool) -> None:
        name = next((t.name for t in self.technicians if t.id == tech_id), "this technician")
        self.pending = PendingAction(kind="tech_active", target_id=int(tech_id), active=bool(active),
                                     title=f"{'Reactivate' if active else 'Deactivate'} {name}?")

    @guarded(Role.ADMIN)
    def ask_staff_active(self, who: Principal, user_id: int, active: bool) -> None:
        name = next((u.name for u in self.staff if u.id == user_id), "this account")
        self.pending = PendingAction(kind="staff_active", target_id=int(user_id), active=bool(active),
                                     title=f"{'Reactivate' if active else 'Deactivate'} {name}?")

    @guarded(Role.ADMIN)
    async def confirm_pending(self, who: Principal) -> None:
        p, self.pending = self.pending, PendingAction()
        if p.kind == "tech_active":
            await self._do(who, admin.set_technician_active, p.target_id, p.active)
        elif p.kind == "staff_active":
            await self._do(who, admin.set_staff_active, p.target_id, p.active)

    @guarded(Role.ADMIN)
    def cancel_pending(self, who: Principal) -> None:
        self.pending = PendingAction()

    @guarded(Role.ADMIN)
    def ask_reset(self, who: Principal, user_id: int) -> None:
        row = next((u for u in self.staff if u.id == user_id), None)
        self.reset_target = row.id if row else 0
        self.reset_name = row.name if row else ""
        self.reset_error = ""

    @guarded(Role.ADMIN)
    def cancel_reset(self, who: Principal) -> None:
        self.reset_target, self.reset_name, self.reset_error = 0, "", ""

    @guarded(Role.ADMIN)
    async def reset_password(self, who: Principal, form: dict) -> None:
        """The account is the one the dialog names (`reset_target`); a failure keeps it and says why."""
        if not self.reset_target:
            return
        errors = await self._do(who, admin.reset_password, self.reset_target, str(form.get("password") or ""),
                                done=f"Password changed for {self.reset_name}; their sessions ended.")
        if errors:
            self.reset_error = errors.get("password") or next(iter(errors.values()))
            self.message = ""
        elif not self.ok:
            self.reset_error, self.message = self.message, ""
        else:
            self.reset_target, self.reset_name, self.reset_error = 0, "", ""

    @guarded(Role.ADMIN)
    async def preview_prices(self, who: Principal, form: dict) -> None:
        try:
            values = parse_price_form({k: v for k, v in form.items() if k in PRICE_FIELDS})
            preview = await asyncio.to_thread(preview_prices, get_core(), who, values)
        except ValidationFailed as e:
            self.price_errors = e.errors
            self.message, self.ok = "Please correct the prices marked below.", False
            return
        self.price_errors = {}
        if not preview.changes:
            self.message, self.ok = "No price changed.", True
            return
        self.price_changes, self.price_values = preview.changes, preview.values
        self.price_example = preview.example
        self.price_example_old, self.price_example_new = preview.example_old, preview.example_new
        self.price_confirm = True

    @guarded(Role.ADMIN)
    def cancel_prices(self, who: Principal) -> None:
        self.price_confirm, self.price_values, self.price_changes = False, {}, []

    @guarded(Role.ADMIN)
    async def save_prices(self, who: Principal) -> None:
        """Save what the admin confirmed in the preview (validated again by the core)."""
        values, self.price_confirm = dict(self.price_values), False
        if not values:
            return
        errors = await self._do(who, admin.save_prices, values, done="Prices saved.")
        self.price_errors = errors or {}
        self.price_values, self.price_changes = {}, []


# -- components ----------------------------------------------------------------------------------------------

def _field(form: str, name: str, label: str, errors: rx.Var, **props) -> rx.Component:  # type: ignore[no-untyped-def]
    """A labelled input with its own error beside it, tied with aria-invalid / aria-describedby."""
    fid, eid = f"{form}-{name}", f"{form}-{name}-error"
    has = errors.contains(name)
    return rx.vstack(
        rx.el.label(label, html_for=fid, style={"font_weight": "600", "font_size": "14px"}),
        rx.el.input(name=name, id=fid, class_name="th-select", aria_invalid=rx.cond(has, "true", "false"),
                    aria_describedby=eid, **props),
        rx.cond(has, rx.text(errors[name], size="1", color_scheme="red", id=eid), rx.el.span(id=eid)),
        spacing="1", min_width="12em", flex="1",
    )


def _select(name: str, fid: str, label: str, options: list[tuple[str, str]], **props) -> rx.Component:  # type: ignore[no-untyped-def]
    return rx.vstack(
        rx.el.label(label, html_for=fid, style={"font_weight": "600", "font_size": "14px"}),
        rx.el.select(*[rx.el.option(text, value=value) for value, text in options], name=name, id=fid,
                     class_name="th-select", **props),
        spacing="1", min_width="10em",
    )


def _pager(page: rx.Var, pages: rx.Var, total: rx.Var, go: Callable[[rx.Var], rx.event.EventSpec],
           what: str, pid: str) -> rx.Component:
    return rx.el.nav(
        rx.hstack(
            rx.button("Previous", on_click=go(page - 1), disabled=page <= 1, variant="soft", size="2",
                      id=f"{pid}-prev", aria_label=f"Previous page of {what}"),
            rx.text("Page ", page, " of ", pages, " · ", total, " ", what, size="2", id=f"{pid}-info",
                    aria_live="polite"),
            rx.button("Next", on_click=go(page + 1), disabled=page >= pages, variant="soft", size="2",
                      id=f"{pid}-next", aria_label=f"Next page of {what}"),
            align="center", spacing="3"),
        aria_label=f"Pages of {what}",
    )


def _table(caption: str, headers: list[str], rows, row, tid: str) -> rx.Component:  # type: ignore[no-untyped-def]
    return rx.table.root(
        rx.el.caption(caption, class_name="th-visually-hidden"),
        rx.table.header(rx.table.row(*[
            rx.table.column_header_cell(h or rx.el.span("Actions", class_name="th-visually-hidden"))
            for h in headers])),
        rx.table.body(rx.foreach(rows, row)), size="2", width="100%", id=tid)


def _technicians() -> rx.Component:
    e = AdminState.tech_errors
    return rx.vstack(
        rx.heading("Add a technician", size="4", as_="h2"),
        rx.form(
            rx.vstack(
                rx.hstack(
                    _field("tech", "name", "Name", e, required=True, auto_complete="off"),
                    _field("tech", "van_reg", "Van registration", e, auto_capitalize="characters"),
                    _field("tech", "van_label", "Van model", e),
                    _field("tech", "home_base", "Home base", e),
                    wrap="wrap", width="100%", spacing="3"),
                rx.el.fieldset(
                    rx.el.legend("Can handle", style={"font_weight": "600", "font_size": "14px"}),
                    rx.hstack(*[rx.checkbox(labels.capability(c), name=f"cap_{c}", id=f"tech-cap-{c}", size="3")
                                for c in CAPABILITIES], wrap="wrap", spacing="4"),
                    style={"border": "0", "padding": "0", "margin": "0"}),
                rx.hstack(
                    _field("tech", "phone", "Mobile for job offers by text (optional)", e, type="tel",
                           auto_complete="off", placeholder="07911 123456"),
                    _field("tech", "username", "Login username (optional)", e, auto_complete="off",
                           auto_capitalize="none"),
                    _field("tech", "password", "Password (12+ characters)", e, type="password",
                           auto_complete="new-password"),
                    wrap="wrap", width="100%", spacing="3"),
                rx.button("Add technician", type="submit", size="3", id="add-technician"),
                spacing="3", width="100%"),
            on_submit=AdminState.create_technician, reset_on_submit=False, id="new-technician",
            key=AdminState.tech_form_key.to_string(), width="100%"),
        rx.heading("Technicians", size="4", as_="h2"),
        rx.form(rx.hstack(
            rx.vstack(rx.el.label("Search technicians", html_for="tech-search",
                                  style={"font_weight": "600", "font_size": "14px"}),
                      rx.el.input(name="q", id="tech-search", type="search", class_name="th-select",
                                  placeholder="Name, van or base"), spacing="1", flex="1"),
            _select("status", "tech-filter", "Status", [("", "All"), *[(str(s), labels.tech_status(s))
                                                                       for s in TECH_FILTERS[1:-1]],
                                                        ("deactivated", "Deactivated")]),
            rx.button("Search", type="submit", size="3", id="tech-search-go"), align="end", wrap="wrap",
            width="100%"), on_submit=AdminState.search_technicians, reset_on_submit=False, width="100%"),
        _table("Technicians", ["Name", "Van", "Can handle", "Mobile", "Status", ""], AdminState.technicians,
               lambda t: rx.table.row(
                   rx.table.row_header_cell(t.name), rx.table.cell(t.van), rx.table.cell(t.caps),
                   rx.table.cell(rx.cond(t.mobile != "", t.mobile, "None"), class_name="tech-mobile"),
                   rx.table.cell(t.status_label),
                   rx.table.cell(rx.hstack(
                       rx.button("Edit", size="2", variant="soft", aria_label="Edit " + t.name,
                                 on_click=AdminState.ask_edit(t.id), class_name="edit-technician"),
                       rx.button(rx.cond(t.active, "Deactivate", "Reactivate"), size="2", variant="soft",
                                 aria_label=rx.cond(t.active, "Deactivate ", "Reactivate ") + t.name,
                                 on_click=AdminState.ask_technician_active(t.id, ~t.active)), spacing="2"))),
               "technicians-table"),
        _pager(AdminState.tech_page, AdminState.tech_pages, AdminState.tech_total, AdminState.technicians_page,
               "technicians", "tech-pages"),
        width="100%", spacing="3",
    )


def _staff() -> rx.Component:
    e = AdminState.staff_errors
    return rx.vstack(
        rx.heading("Create an account", size="4", as_="h2"),
        rx.form(rx.vstack(
            rx.hstack(
                _field("staff", "username", "Username", e, required=True, auto_complete="off", auto_capitalize="none"),
                _field("staff", "display_name", "Name", e, required=True),
                _select("role", "staff-role", "Role", [(str(r), labels.role(r)) for r in ROLES]),
                _field("staff", "password", "Password (12+ characters)", e, type="password",
                       auto_complete="new-password"),
                wrap="wrap", width="100%", spacing="3", align="start"),
            rx.button("Create account", type="submit", size="3", id="create-account"), spacing="3", width="100%"),
            on_submit=AdminState.create_staff, reset_on_submit=False, key=AdminState.staff_form_key.to_string(),
            id="new-account", width="100%"),
        rx.heading("Accounts", size="4", as_="h2"),
        rx.form(rx.hstack(
            rx.vstack(rx.el.label("Search accounts", html_for="staff-search",
                                  style={"font_weight": "600", "font_size": "14px"}),
                      rx.el.input(name="q", id="staff-search", type="search", class_name="th-select",
                                  placeholder="Username or name"), spacing="1", flex="1"),
            _select("role", "staff-filter", "Role", [("", "All"), *[(str(r), labels.role(r)) for r in ROLES]]),
            rx.button("Search", type="submit", size="3", id="staff-search-go"), align="end", wrap="wrap",
            width="100%"), on_submit=AdminState.search_staff, reset_on_submit=False, width="100%"),
        _table("Accounts", ["Username", "Name", "Role", ""], AdminState.staff, lambda u: rx.table.row(
            rx.table.row_header_cell(u.username), rx.table.cell(u.name), rx.table.cell(u.role_label),
            rx.table.cell(rx.hstack(
                rx.button("Reset password", size="2", variant="soft", aria_label="Reset password for " + u.name,
                          on_click=AdminState.ask_reset(u.id), class_name="reset-password"),
                rx.button(rx.cond(u.active, "Deactivate", "Reactivate"), size="2", variant="soft",
                          aria_label=rx.cond(u.active, "Deactivate ", "Reactivate ") + u.name,
                          on_click=AdminState.ask_staff_active(u.id, ~u.active)), spacing="2"))),
            "accounts-table"),
        _pager(AdminState.staff_page, AdminState.staff_pages, AdminState.staff_total, AdminState.staff_page_to,
               "accounts", "staff-pages"),
        width="100%", spacing="3",
    )


def _edit_dialog() -> rx.Component:
    """Edit one technician; the form is remounted for each technician so it starts from their details."""
    t, e = AdminState.editing, AdminState.edit_errors
    return rx.dialog.root(
        rx.dialog.content(
            rx.dialog.title("Edit ", t.name),
            rx.form(rx.vstack(
                rx.hstack(
                    _field("edit", "name", "Name", e, default_value=t.name, auto_complete="off"),
                    _field("edit", "van_reg", "Van registration", e, default_value=t.van_reg,
                           auto_capitalize="characters"),
                    _field("edit", "van_label", "Van model", e, default_value=t.van_label),
                    _field("edit", "home_base", "Home base", e, default_value=t.home_base),
                    wrap="wrap", width="100%", spacing="3"),
                rx.el.fieldset(
                    rx.el.legend("Can handle", style={"font_weight": "600", "font_size": "14px"}),
                    rx.hstack(*[rx.checkbox(labels.capability(c), name=f"cap_{c}", id=f"edit-cap-{c}", size="3",
                                            default_checked=t.capabilities.contains(c))
                                for c in CAPABILITIES], wrap="wrap", spacing="4"),
                    style={"border": "0", "padding": "0", "margin": "0"}),
                _field("edit", "phone", "Mobile for job offers by text", e, type="tel", auto_complete="off",
                       placeholder=rx.cond(t.mobile != "", "On file: " + t.mobile + " (type a new one to change it)",
                                           "None on file: type a UK mobile")),
                rx.cond(t.mobile != "", rx.checkbox("Remove the mobile number", name="remove_phone",
                                                    id="edit-remove-phone", size="3")),
                rx.hstack(
                    rx.button("Cancel", type="button", variant="soft", color_scheme="gray",
                              on_click=AdminState.cancel_edit, id="edit-no"),
                    rx.button("Save", type="submit", id="edit-yes"),
                    justify="end", spacing="3", width="100%"),
                spacing="3", width="100%"),
                on_submit=AdminState.save_edit, reset_on_submit=False, key=t.id.to_string(), id="edit-technician"),
            id="edit-dialog", max_width="720px",
        ),
        open=t.id > 0,
        on_open_change=lambda _o: AdminState.cancel_edit,
    )


def _reset_dialog() -> rx.Component:
    return rx.dialog.root(
        rx.dialog.content(
            rx.dialog.title("Reset password for ", AdminState.reset_name, "?"),
            rx.dialog.description("Their sessions end at once; give them the new password in person.", size="2"),
            rx.form(rx.vstack(
                rx.el.label("New password (12+ characters)", html_for="reset-password",
                            style={"font_weight": "600", "font_size": "14px"}),
                rx.el.input(name="password", id="reset-password", type="password", auto_complete="new-password",
                            class_name="th-select", aria_invalid=rx.cond(AdminState.reset_error != "", "true", "false"),
                            aria_describedby="reset-password-error"),
                rx.text(AdminState.reset_error, size="1", color_scheme="red", id="reset-password-error"),
                rx.hstack(
                    rx.button("Cancel", type="button", variant="soft", color_scheme="gray",
                              on_click=AdminState.cancel_reset, id="reset-no"),
                    rx.button("Reset password", type="submit", color_scheme="red", id="reset-yes"),
                    justify="end", spacing="3", width="100%"),
                spacing="2", width="100%"), on_submit=AdminState.reset_password, reset_on_submit=False),
            id="reset-dialog",
        ),
        open=AdminState.reset_target > 0,
        on_open_change=lambda _o: AdminState.cancel_reset,
    )


_UNIT_SUFFIX = {"pounds": " (£)", "percent": " (%)", "hour": ""}


def _prices() -> rx.Component:
    e = AdminState.price_errors
    return rx.vstack(
        rx.heading("Prices", size="4", as_="h2"),
        rx.text("Amounts in pounds, surcharges in percent, hours on the 24-hour clock. Nothing is saved until "
                "you confirm the preview.", size="2"),
        rx.form(rx.vstack(
            rx.grid(*[_field("price", name, label + _UNIT_SUFFIX[unit], e, default_value=AdminState.prices[name],
                             input_mode="decimal")
                      for name, (label, unit) in PRICE_FIELDS.items()],
                    columns=rx.breakpoints(initial="1", sm="2", md="4"), spacing="3", width="100%"),
            rx.button("Preview the change", type="submit", size="3", id="preview-prices"), spacing="3", width="100%"),
            on_submit=AdminState.preview_prices, reset_on_submit=False, id="prices", width="100%"),
        confirm_dialog(
            AdminState.price_confirm, "Save these prices?",
            rx.vstack(
                rx.foreach(AdminState.price_changes, lambda c: rx.text(
                    c.label, ": ", c.old, " → ", rx.text.strong(c.new), class_name="price-change")),
                rx.text(AdminState.price_example, ": ", AdminState.price_example_old, " → ",
                        rx.text.strong(AdminState.price_example_new), id="price-example"),
                spacing="1"),
            "Save prices", AdminState.save_prices, AdminState.cancel_prices, dialog_id="prices-dialog",
            confirm_id="save-prices"),
        width="100%", spacing="3",
    )


def _texts() -> rx.Component:
    return rx.vstack(
        rx.hstack(rx.text("The newest 50 texts, as sent (tracking tokens masked). With NOTIFY_PROVIDER=log they "
                          "go nowhere else: this list and the app's log are where to read them.", size="2"),
                  rx.button("Refresh", size="1", variant="soft", on_click=AdminState.refresh_texts), width="100%"),
        _table("Texts sent", ["When (UTC)", "Request", "To", "Text", "Status", "Tries"], AdminState.texts,
               lambda m: rx.table.row(
                   rx.table.cell(m.created_at), rx.table.cell(m.reference), rx.table.cell(m.recipient),
                   rx.table.cell(rx.cond(m.preview != "", m.preview, m.template)),
                   rx.table.cell(rx.cond(m.last_error != "", rx.text(m.status, " - ", m.last_error), m.status)),
                   rx.table.cell(m.attempts)),
               "texts-table"),
        id="texts", width="100%")


def admin_page() -> rx.Component:
    return staff_frame(
        "TyreHero admin", AdminState.user_name,
        rx.cond(AdminState.denied != "", denied_notice(AdminState.denied), rx.vstack(
            rx.box(rx.cond(AdminState.message != "",
                           rx.callout(AdminState.message, color_scheme=rx.cond(AdminState.ok, "green", "red"),
                                      width="100%", id="admin-message")),
                   role="status", aria_live="polite", width="100%"),
            rx.tabs.root(
                rx.tabs.list(rx.tabs.trigger("Technicians", value="t"), rx.tabs.trigger("Accounts", value="s"),
                             rx.tabs.trigger("Prices", value="p"),
                             rx.tabs.trigger("Messages", value="m")),
                rx.tabs.content(_technicians(), value="t", padding_top="1em"),
                rx.tabs.content(_staff(), value="s", padding_top="1em"),
                rx.tabs.content(_prices(), value="p", padding_top="1em"),
                rx.tabs.content(_texts(), value="m", padding_top="1em"),
                default_value="t", width="100%"),
            confirm_dialog(AdminState.pending.kind != "", AdminState.pending.title,
                           rx.text("You can undo this from the same table."),
                           rx.cond(AdminState.pending.active, "Reactivate", "Deactivate"),
                           AdminState.confirm_pending, AdminState.cancel_pending,
                           danger=True, dialog_id="admin-confirm"),
            _reset_dialog(),
            _edit_dialog(),
            width="100%")),
        links=(("Dispatch", "/dispatch"), ("Your account", "/account")),
    )
