"""`/dispatch`: the whole country on one live map, the queue with its SLA clock, and full control."""

from __future__ import annotations

import asyncio

import reflex as rx

from core.dispatch import console, manual
from core.errors import Conflict, Forbidden, NotFound, ValidationFailed
from core.phones import display
from core.principal import Principal, Role
from tyrehero_app.components.staff import denied_notice, logout_button
from tyrehero_app.guard import StaffPage, guarded
from tyrehero_app.runtime import get_core

_SLA_COLOR = {"ok": "green", "amber": "amber", "red": "red"}


STAFF = (Role.DISPATCHER, Role.ADMIN)


class DispatchState(StaffPage, rx.State):
    """What one console shows; the map reads its own GeoJSON layers. Dispatchers and admins only."""

    rows: list[dict] = []
    alerts: list[dict] = []
    figures: dict = {}
    per_hour: list[dict] = []
    selected_id: int = 0
    detail: dict = {}
    timeline: list[dict] = []
    suggestions: list[dict] = []
    message: str = ""
    message_kind: str = "green"
    ticks: int = 0

    @guarded(*STAFF)
    async def load(self, who: Principal) -> None:
        self.user_name = who.name
        await self._refresh(who)

    @guarded(*STAFF)
    async def refresh(self, who: Principal) -> None:
        await self._refresh(who)

    async def _refresh(self, who: Principal) -> None:
        core = get_core()
        self.ticks += 1
        rows = await asyncio.to_thread(console.queue, core, who)
        self.rows = [r.model_dump() | {"color": _SLA_COLOR[r.sla_state]} for r in rows]
        self.alerts = [a.model_dump() for a in await asyncio.to_thread(console.alerts, core, who)]
        if self.ticks % 5 == 1:
            f = await asyncio.to_thread(console.figures, core, who)
            self.figures = {k: "–" if v is None else str(v) for k, v in f.model_dump(exclude={"per_hour"}).items()}
            self.per_hour = f.per_hour
        if self.selected_id:
            await self._load_detail(who)

    async def _load_detail(self, who: Principal) -> None:
        try:
            d = await asyncio.to_thread(console.request_detail, get_core(), who, self.selected_id)
        except NotFound:
            self.selected_id = 0
            return
        self.detail = d.model_dump(exclude={"timeline", "suggestions"}) | {"phone": display(d.phone)}
        self.timeline = [e.model_dump() | {"time": e.at[11:19], "text": e.data.get("text") or e.data.get("reason")
                                           or e.data.get("technician") or ""} for e in reversed(d.timeline)]
        self.suggestions = [s.model_dump() for s in d.suggestions]

    @guarded(*STAFF)
    async def select(self, who: Principal, request_id: int) -> None:
        self.selected_id = request_id
        self.message = ""
        await self._load_detail(who)

    @guarded(*STAFF)
    def close(self, who: Principal) -> None:
        self.selected_id = 0

    async def _act(self, who: Principal, fn, *args) -> None:  # type: ignore[no-untyped-def]
        try:
            await asyncio.to_thread(fn, get_core(), who, self.selected_id, *args)
            self.message, self.message_kind = "Done.", "green"
        except (Conflict, NotFound, Forbidden) as e:
            self.message, self.message_kind = e.message, "red"
        except ValidationFailed as e:
            self.message, self.message_kind = "; ".join(e.errors.values()), "red"
        await self._refresh(who)

    @guarded(*STAFF)
    async def assign(self, who: Principal, technician_id: int) -> None:
        current = self.detail.get("request", {}).get("technician_id")
        await self._act(who, manual.assign, technician_id, current)

    @guarded(*STAFF)
    async def unassign(self, who: Principal) -> None:
        await self._act(who, manual.unassign)

    @guarded(*STAFF)
    async def cancel(self, who: Principal, form: dict) -> None:
        await self._act(who, manual.cancel, (form.get("reason") or "")[:200])

    @guarded(*STAFF)
    async def note(self, who: Principal, form: dict) -> None:
        await self._act(who, manual.add_note, (form.get("text") or "")[:500])


def _stat(label: str, value, suffix: str = "") -> rx.Component:  # type: ignore[no-untyped-def]
    return rx.card(rx.vstack(rx.text(label, size="1", color_scheme="gray"),
                             rx.heading(value, suffix, size="6"), spacing="0"), min_width="8em")


def _figures() -> rx.Component:
    f = DispatchState.figures
    return rx.hstack(
        _stat("Waiting", f["pending"].to(str)),
        _stat("Assigned", f["assigned"].to(str)),
        _stat("In progress", f["in_progress"].to(str)),
        _stat("Completed today", f["completed_today"].to(str)),
        _stat("Avg response (min)", f["avg_response_min"].to(str)),
        _stat("SLA met (%)", f["sla_compliance_pct"].to(str)),
        _stat("Utilisation (%)", f["utilisation_pct"].to(str)),
        rx.recharts.composed_chart(
            rx.recharts.bar(data_key="requests", fill="#f59e0b", name="requests"),
            rx.recharts.line(data_key="response_min", stroke="#2563eb", name="response min", dot=False),
            rx.recharts.x_axis(data_key="hour", tick_size=2, font_size=10),
            rx.recharts.graphing_tooltip(),
            data=DispatchState.per_hour, width=320, height=70,
        ),
        spacing="2",
        wrap="wrap",
        id="figures",
    )


def _alerts() -> rx.Component:
    return rx.vstack(
        rx.foreach(DispatchState.alerts, lambda a: rx.callout(
            a["text"].to(str), icon="triangle-alert", size="1",
            color_scheme=rx.cond(a["severity"].to(str) == "critical", "red", "amber"), width="100%")),
        spacing="1", width="100%", id="alerts",
    )


def _queue() -> rx.Component:
    def row(r: rx.Var) -> rx.Component:
        return rx.table.row(
            rx.table.cell(rx.badge("P", r["priority"].to(str), color_scheme="gray")),
            rx.table.cell(rx.text(r["reference"].to(str), weight="bold"), rx.text(r["issue"].to(str), size="1")),
            rx.table.cell(rx.text(r["location_label"].to(str), size="2")),
            rx.table.cell(rx.badge(r["status"].to(str), variant="soft")),
            rx.table.cell(rx.badge(r["sla_left_min"].to(str), " min", color_scheme=r["color"].to(str))),
            rx.table.cell(rx.text(r["technician"].to(str), size="2")),
            on_click=DispatchState.select(r["id"].to(int)),
            style={"cursor": "pointer"},
            class_name="queue-row",
            id="row-" + r["reference"].to(str),
        )

    return rx.box(
        rx.table.root(
            rx.table.header(rx.table.row(*[rx.table.column_header_cell(h) for h in
                                           ("", "Request", "Where", "Status", "SLA", "Technician")])),
            rx.table.body(rx.foreach(DispatchState.rows, row)),
            size="1", width="100%",
        ),
        overflow_y="auto", max_height="72vh", width="100%", id="queue",
    )


def _drawer() -> rx.Component:
    d = DispatchState.detail
    r = d["request"].to(dict)
    return rx.card(
        rx.vstack(
            rx.hstack(rx.heading(r["reference"].to(str), size="5", id="drawer-reference"), rx.spacer(),
                      rx.button("Close", on_click=DispatchState.close, variant="ghost", size="1"), width="100%"),
            rx.text(r["customer_name"].to(str), " · ", d["phone"].to(str)),
            rx.text(r["issue"].to(str), " · ", d["vehicle"].to(str), " ", d["vehicle_reg"].to(str)),
            rx.text(r["location_label"].to(str), rx.cond(r["approximate"].to(bool), " (approximate: confirm by phone)", "")),
            rx.text("Status: ", rx.text.strong(r["status"].to(str)), " · technician: ",
                    rx.text.strong(r["technician"].to(str), id="drawer-technician")),
            rx.cond(DispatchState.message != "", rx.callout(DispatchState.message, size="1",
                                                            color_scheme=DispatchState.message_kind, id="drawer-message")),
            rx.heading("Suggested technicians", size="3"),
            rx.foreach(DispatchState.suggestions, lambda s: rx.hstack(
                rx.text(s["name"].to(str), " · ", s["eta_minutes"].to(str), " min · ", s["distance_km"].to(str), " km",
                        size="2"),
                rx.spacer(),
                rx.button(rx.cond(r["technician_id"].to(int) > 0, "Reassign", "Assign"), size="1",
                          on_click=DispatchState.assign(s["technician_id"].to(int)), class_name="assign"),
                width="100%")),
            rx.hstack(
                rx.cond(r["technician_id"].to(int) > 0,
                        rx.button("Unassign", on_click=DispatchState.unassign, size="1", variant="soft", id="unassign")),
                width="100%"),
            rx.form(rx.hstack(rx.input(name="text", placeholder="Add a note", size="1", flex="1"),
                              rx.button("Note", size="1", type="submit"), width="100%"),
                    on_submit=DispatchState.note, reset_on_submit=True, width="100%"),
            rx.form(rx.hstack(rx.input(name="reason", placeholder="Reason to cancel", size="1", flex="1"),
                              rx.button("Cancel request", size="1", color_scheme="red", type="submit"), width="100%"),
                    on_submit=DispatchState.cancel, reset_on_submit=True, width="100%"),
            rx.heading("Timeline", size="3"),
            rx.foreach(DispatchState.timeline, lambda e: rx.text(
                e["time"].to(str), " ", rx.text.strong(e["kind"].to(str)), " by ", e["actor"].to(str), " ",
                e["text"].to(str), size="1", class_name="timeline-line")),
            spacing="2",
            width="100%",
        ),
        width="100%", id="drawer",
    )


def dispatch() -> rx.Component:
    return rx.box(
        rx.moment(interval=1500, on_change=DispatchState.refresh, display="none"),
        rx.hstack(rx.heading("TyreHero dispatch", size="6"), rx.spacer(), rx.text(DispatchState.user_name),
                  logout_button(), width="100%", align="center", padding_bottom="0.5em"),
        rx.cond(
            DispatchState.denied != "",
            denied_notice(DispatchState.denied),
            rx.vstack(
                _figures(),
                _alerts(),
                rx.grid(
                    rx.el.iframe(src="/map/dispatch", title="Live map",
                                 style={"width": "100%", "height": "74vh", "border": "0", "border_radius": "8px"}),
                    rx.vstack(rx.cond(DispatchState.selected_id > 0, _drawer()), _queue(), width="100%"),
                    columns="3fr 2fr", spacing="3", width="100%",
                ),
                spacing="3", width="100%",
            ),
        ),
        padding="1em",
        width="100%",
    )
