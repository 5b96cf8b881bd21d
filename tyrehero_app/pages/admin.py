"""`/admin`: technicians and vans, staff accounts, prices, the texts sent. Admin only."""

from __future__ import annotations

import asyncio
import dataclasses
from collections.abc import Callable

import reflex as rx
from pydantic import ValidationError

from core.errors import Conflict, Forbidden, NotFound, ValidationFailed
from core.notify.outbox import MessageLine, recent_messages
from core.principal import Principal, Role
from core.schemas import CAPABILITIES, field_errors
from core.staff import admin
from core.staff.views import StaffRow, TechnicianRow, admin_overview
from tyrehero_app.components.staff import denied_notice, logout_button
from tyrehero_app.guard import StaffPage, guarded
from tyrehero_app.runtime import get_core


class AdminState(StaffPage, rx.State):
    """What the admin page shows. Every handler is admin-only, checked on each call."""

    technicians: list[TechnicianRow] = []
    staff: list[StaffRow] = []
    prices: dict[str, str] = {}
    texts: list[MessageLine] = []  # the newest texts (read-only: what the relay sent, or is trying to)
    message: str = ""
    ok: bool = True

    @guarded(Role.ADMIN)
    async def load(self, who: Principal) -> None:
        self.user_name = who.name
        await self._reload(who)

    async def _reload(self, who: Principal) -> None:
        view = await asyncio.to_thread(admin_overview, get_core(), who)
        self.technicians, self.staff = view.technicians, view.staff
        self.prices = {k: str(v) for k, v in view.prices.items()}
        self.texts = await asyncio.to_thread(recent_messages, get_core(), who, 50)

    @guarded(Role.ADMIN)
    async def refresh_texts(self, who: Principal) -> None:
        self.texts = await asyncio.to_thread(recent_messages, get_core(), who, 50)

    async def _do(self, who: Principal, fn: Callable[..., object], *args: object, done: str = "Saved.") -> None:
        try:
            await asyncio.to_thread(fn, get_core(), who, *args)
            self.message, self.ok = done, True
        except ValidationError as e:
            self.message, self.ok = "; ".join(f"{k}: {v}" for k, v in field_errors(e).items()), False
        except ValidationFailed as e:
            self.message, self.ok = "; ".join(f"{k}: {v}" for k, v in e.errors.items()), False
        except (Conflict, NotFound, Forbidden) as e:
            self.message, self.ok = e.message, False
        await self._reload(who)

    @guarded(Role.ADMIN)
    async def create_technician(self, who: Principal, form: dict) -> None:
        caps = [c for c in CAPABILITIES if form.get(f"cap_{c}") in ("on", True, "true")]
        try:
            data = admin.TechnicianIn(name=form.get("name", ""), van_reg=form.get("van_reg", ""),
                                      van_label=form.get("van_label", ""), capabilities=caps,
                                      home_base=form.get("home_base", ""), username=form.get("username") or None,
                                      password=form.get("password") or None)
        except ValidationError as e:
            self.message, self.ok = "; ".join(f"{k}: {v}" for k, v in field_errors(e).items()), False
            return
        await self._do(who, admin.create_technician, data, done=f"{data.name} added (off shift).")

    @guarded(Role.ADMIN)
    async def toggle_technician(self, who: Principal, tech_id: int, active: bool) -> None:
        await self._do(who, admin.set_technician_active, tech_id, active)

    @guarded(Role.ADMIN)
    async def create_staff(self, who: Principal, form: dict) -> None:
        try:
            data = admin.StaffIn(username=form.get("username", ""), display_name=form.get("display_name", ""),
                                 role=form.get("role", ""), password=form.get("password", ""))
        except ValidationError as e:
            self.message, self.ok = "; ".join(f"{k}: {v}" for k, v in field_errors(e).items()), False
            return
        await self._do(who, admin.create_staff, data, done=f"Account {data.username} created.")

    @guarded(Role.ADMIN)
    async def toggle_staff(self, who: Principal, user_id: int, active: bool) -> None:
        await self._do(who, admin.set_staff_active, user_id, active)

    @guarded(Role.ADMIN)
    async def reset_password(self, who: Principal, form: dict) -> None:
        try:
            user_id = int(form.get("user_id", "0"))
        except ValueError:
            user_id = 0
        await self._do(who, admin.reset_password, user_id, form.get("password", ""),
                       done="Password changed; sessions ended.")

    @guarded(Role.ADMIN)
    async def save_prices(self, who: Principal, form: dict) -> None:
        try:
            values = {k: int(v) for k, v in form.items() if str(v).strip() != ""}
        except ValueError:
            self.message, self.ok = "Prices are whole numbers (pence, percent or hours).", False
            return
        await self._do(who, admin.save_prices, values)


def _table(headers: list[str], rows, row) -> rx.Component:  # type: ignore[no-untyped-def]
    return rx.table.root(rx.table.header(rx.table.row(*[rx.table.column_header_cell(h) for h in headers])),
                         rx.table.body(rx.foreach(rows, row)), size="1", width="100%")


def _technicians() -> rx.Component:
    return rx.vstack(
        rx.form(rx.hstack(
            rx.input(name="name", placeholder="Name", required=True), rx.input(name="van_reg", placeholder="Van reg"),
            rx.input(name="van_label", placeholder="Van model"), rx.input(name="home_base", placeholder="Home base"),
            *[rx.checkbox(c.replace("_", " "), name=f"cap_{c}") for c in CAPABILITIES],
            rx.input(name="username", placeholder="Login (optional)"),
            rx.input(name="password", type="password", placeholder="Password (12+)"),
            rx.button("Add technician", type="submit"), wrap="wrap", align="center"),
            on_submit=AdminState.create_technician, reset_on_submit=True, id="new-technician"),
        _table(["Name", "Van", "Capabilities", "Status", ""], AdminState.technicians, lambda t: rx.table.row(
            rx.table.cell(t.name), rx.table.cell(t.van), rx.table.cell(t.caps),
            rx.table.cell(rx.cond(t.active, t.status, "deactivated")),
            rx.table.cell(rx.button(rx.cond(t.active, "Deactivate", "Reactivate"), size="1", variant="soft",
                                    on_click=AdminState.toggle_technician(t.id, ~t.active))))),
        width="100%",
    )


def _staff() -> rx.Component:
    return rx.vstack(
        rx.form(rx.hstack(
            rx.input(name="username", placeholder="username", required=True),
            rx.input(name="display_name", placeholder="Display name", required=True),
            rx.el.select(rx.el.option("dispatcher", value="dispatcher"), rx.el.option("admin", value="admin"),
                         rx.el.option("technician", value="technician"), name="role"),
            rx.input(name="password", type="password", placeholder="Password (12+)"),
            rx.button("Create account", type="submit"), wrap="wrap"), on_submit=AdminState.create_staff,
            reset_on_submit=True),
        rx.form(rx.hstack(
            rx.el.select(rx.foreach(AdminState.staff, lambda u: rx.el.option(u.username, value=u.id.to_string())),
                         name="user_id"),
            rx.input(name="password", type="password", placeholder="New password (12+)"),
            rx.button("Reset password", type="submit", variant="soft")), on_submit=AdminState.reset_password,
            reset_on_submit=True),
        _table(["Username", "Name", "Role", ""], AdminState.staff, lambda u: rx.table.row(
            rx.table.cell(u.username), rx.table.cell(u.name), rx.table.cell(u.role),
            rx.table.cell(rx.button(rx.cond(u.active, "Deactivate", "Reactivate"), size="1", variant="soft",
                                    on_click=AdminState.toggle_staff(u.id, ~u.active))))),
        width="100%",
    )


def _prices() -> rx.Component:
    names = [f.name for f in dataclasses.fields(admin.PriceTable)]
    return rx.form(rx.vstack(
        rx.grid(*[rx.vstack(rx.text(n.replace("_", " "), size="1"),
                            rx.input(name=n, default_value=AdminState.prices[n]), spacing="1") for n in names],
                columns="4", spacing="3"),
        rx.button("Save prices", type="submit")), on_submit=AdminState.save_prices, id="prices")


def _texts() -> rx.Component:
    return rx.vstack(
        rx.hstack(rx.text("The newest 50 texts, as sent (tracking tokens masked). With NOTIFY_PROVIDER=log they "
                          "go nowhere else: this list and the app's log are where to read them.", size="2"),
                  rx.button("Refresh", size="1", variant="soft", on_click=AdminState.refresh_texts), width="100%"),
        _table(["When (UTC)", "Request", "To", "Text", "Status", "Tries"], AdminState.texts, lambda m: rx.table.row(
            rx.table.cell(m.created_at), rx.table.cell(m.reference), rx.table.cell(m.recipient),
            rx.table.cell(rx.cond(m.preview != "", m.preview, m.template)),
            rx.table.cell(rx.cond(m.last_error != "", rx.text(m.status, " - ", m.last_error), m.status)),
            rx.table.cell(m.attempts))),
        id="texts", width="100%")


def admin_page() -> rx.Component:
    return rx.box(
        rx.hstack(rx.heading("TyreHero admin", size="6"), rx.spacer(), rx.link("Dispatch", href="/dispatch"),
                  rx.text(AdminState.user_name), logout_button(), width="100%", align="center"),
        rx.cond(AdminState.denied != "", denied_notice(AdminState.denied), rx.vstack(
            rx.cond(AdminState.message != "",
                    rx.callout(AdminState.message, color_scheme=rx.cond(AdminState.ok, "green", "red"),
                               width="100%", id="admin-message")),
            rx.tabs.root(
                rx.tabs.list(rx.tabs.trigger("Technicians", value="t"), rx.tabs.trigger("Staff", value="s"),
                             rx.tabs.trigger("Prices", value="p"), rx.tabs.trigger("Messages", value="m")),
                rx.tabs.content(_technicians(), value="t", padding_top="1em"),
                rx.tabs.content(_staff(), value="s", padding_top="1em"),
                rx.tabs.content(_prices(), value="p", padding_top="1em"),
                rx.tabs.content(_texts(), value="m", padding_top="1em"),
                default_value="t", width="100%"),
            width="100%")),
        padding="1em", width="100%",
    )
