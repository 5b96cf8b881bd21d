"""`/dispatch`: the whole country on one live map, the queue with its SLA clock, and full control."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import Any

import reflex as rx
from pydantic import BaseModel

from core.dispatch import console, manual
from core.dispatch.console import Alert, ConsoleSnapshot, QueueItem, RequestDetail, Suggestion
from core.errors import Conflict, Forbidden, NotFound, ValidationFailed
from core.phones import display
from core.principal import Principal, Role
from core.requests.rating import LowRating
from tyrehero_app.components.staff import denied_notice, logout_button
from tyrehero_app.guard import StaffPage, guarded
from tyrehero_app.runtime import get_core

_SLA_COLOR = {"ok": "green", "amber": "amber", "red": "red"}


STAFF = (Role.DISPATCHER, Role.ADMIN)
FIGURES_EVERY = 5  # ticks: the figures' queries are the console's dearest


class QueueRow(QueueItem):
    """A queue line as the table prints it: with the colour of its SLA badge."""

    color: str

    @classmethod
    def of(cls, item: QueueItem) -> QueueRow:
        return cls(**item.model_dump(), color=_SLA_COLOR[item.sla_state])


class FigureCards(BaseModel):
    """Today's figures as the cards print them: text, with "–" where there is no figure yet."""

    pending: str = ""
    assigned: str = ""
    in_progress: str = ""
    completed_today: str = ""
    cancelled_today: str = ""
    avg_response_min: str = ""
    sla_compliance_pct: str = ""
    on_shift: str = ""
    busy: str = ""
    utilisation_pct: str = ""

    @classmethod
    def of(cls, f: console.Figures) -> FigureCards:
        return cls(**{k: "–" if v is None else str(v) for k, v in f.model_dump(exclude={"per_hour"}).items()})


class TimelineLine(BaseModel):
    """One event of the drawer's timeline, newest first: its time of day and the words worth showing."""

    time: str
    kind: str
    actor: str
    text: str


class Drawer(BaseModel):
    """The selected request as the drawer shows it: the phone number spaced for reading aloud."""

    request: QueueItem
    assigned: bool
    phone: str
    vehicle: str
    vehicle_reg: str | None
    timeline: list[TimelineLine]
    suggestions: list[Suggestion]

    @classmethod
    def of(cls, d: RequestDetail) -> Drawer:
        lines = [TimelineLine(time=e.at[11:19], kind=e.kind, actor=e.actor,
                              text=str(e.data.get("text") or e.data.get("reason") or e.data.get("technician") or ""))
                 for e in reversed(d.timeline)]
        return cls(request=d.request, assigned=bool(d.request.technician_id), phone=display(d.phone), vehicle=d.vehicle,
                   vehicle_reg=d.vehicle_reg, timeline=lines, suggestions=d.suggestions)


class DispatchState(StaffPage, rx.State):
    """What one console shows; the map reads its own GeoJSON layers. Dispatchers and admins only."""

    rows: list[QueueRow] = []
    alerts: list[Alert] = []
    figures: FigureCards = FigureCards()
    per_hour: list[dict[str, Any]] = []  # the chart's data: recharts takes plain records (HourFigure dumped)
    selected_id: int = 0
    detail: Drawer | None = None
    message: str = ""
    message_kind: str = "green"
    ticks: int = 0
    rating_average: str = "–"  # drivers' average rating, last 30 days
    rating_count: int = 0
    low_ratings: list[LowRating] = []

    @guarded(*STAFF)
    async def load(self, who: Principal) -> None:
        self.user_name = who.name
        await self._refresh(who)

    @guarded(*STAFF)
    async def refresh(self, who: Principal) -> None:
        await self._refresh(who)

    async def _refresh(self, who: Principal, tick: bool = True) -> None:
        """One read of the console (`console.snapshot`); the figures every FIGURES_EVERY ticks."""
        if tick:
            self.ticks += 1
        with_figures = tick and self.ticks % FIGURES_EVERY == 1
        snap = await asyncio.to_thread(console.snapshot, get_core(), who, self.selected_id or None, with_figures)
        self._show(snap)

    def _show(self, snap: ConsoleSnapshot) -> None:
        self.rows = [QueueRow.of(r) for r in snap.queue]
        self.alerts = snap.alerts
        if snap.figures is not None:
            self.figures = FigureCards.of(snap.figures)
            self.per_hour = [h.model_dump() for h in snap.figures.per_hour]
        if snap.ratings is not None:
            avg = snap.ratings.average
            self.rating_average = "–" if avg is None else f"{avg:.1f}"
            self.rating_count, self.low_ratings = snap.ratings.count, snap.ratings.lowest
        if self.selected_id:
            if snap.detail is None:  # gone since it was selected
                self.selected_id = 0
            else:
                self.detail = Drawer.of(snap.detail)

    @guarded(*STAFF)
    async def select(self, who: Principal, request_id: int) -> None:
        self.selected_id = request_id
        self.message = ""
        await self._refresh(who, tick=False)

    @guarded(*STAFF)
    def close(self, who: Principal) -> None:
        self.selected_id = 0

    async def _act(self, who: Principal, fn: Callable[..., Any], *args: Any) -> None:
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
        current = self.detail.request.technician_id if self.detail else None
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


def _stat(label: str, value: rx.Var, suffix: str = "") -> rx.Component:
    return rx.card(rx.vstack(rx.text(label, size="1", color_scheme="gray"),
                             rx.heading(value, suffix, size="6"), spacing="0"), min_width="8em")


def _figures() -> rx.Component:
    f = DispatchState.figures
    return rx.hstack(
        _stat("Waiting", f.pending),
        _stat("Assigned", f.assigned),
        _stat("In progress", f.in_progress),
        _stat("Completed today", f.completed_today),
        _stat("Avg response (min)", f.avg_response_min),
        _stat("SLA met (%)", f.sla_compliance_pct),
        _stat("Utilisation (%)", f.utilisation_pct),
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


def _ratings() -> rx.Component:
    """Drivers' average rating (KPI 4.5 of 5) and the lowest recent ones, with their words."""
    return rx.hstack(
        rx.card(rx.vstack(rx.text("Rating (30 days)", size="1", color_scheme="gray"),
                          rx.heading(DispatchState.rating_average, " / 5", size="6", id="rating-average"),
                          rx.text(DispatchState.rating_count, " ratings", size="1"), spacing="0"), min_width="8em"),
        rx.vstack(rx.foreach(DispatchState.low_ratings, lambda r: rx.text(
            rx.text.strong(r.stars, "★ "), r.reference, " · ", r.technician,
            rx.cond(r.comment != "", " · ", ""), r.comment,
            size="1", class_name="low-rating")), spacing="0", id="low-ratings"),
        spacing="3", align="center", width="100%", id="ratings",
    )


def _alerts() -> rx.Component:
    return rx.vstack(
        rx.foreach(DispatchState.alerts, lambda a: rx.callout(
            a.text, icon="triangle-alert", size="1",
            color_scheme=rx.cond(a.severity == "critical", "red", "amber"), width="100%")),
        spacing="1", width="100%", id="alerts",
    )


def _queue() -> rx.Component:
    def row(r: rx.Var[QueueRow]) -> rx.Component:
        return rx.table.row(
            rx.table.cell(rx.badge("P", r.priority, color_scheme="gray")),
            rx.table.cell(rx.text(r.reference, weight="bold"), rx.text(r.issue, size="1")),
            rx.table.cell(rx.text(r.location_label, size="2")),
            rx.table.cell(rx.badge(r.status, variant="soft")),
            rx.table.cell(rx.badge(r.sla_left_min, " min", color_scheme=r.color)),
            rx.table.cell(rx.text(r.technician, size="2")),
            on_click=DispatchState.select(r.id),
            style={"cursor": "pointer"},
            class_name="queue-row",
            id="row-" + r.reference,
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
    r = d.request
    return rx.card(
        rx.vstack(
            rx.hstack(rx.heading(r.reference, size="5", id="drawer-reference"), rx.spacer(),
                      rx.button("Close", on_click=DispatchState.close, variant="ghost", size="1"), width="100%"),
            rx.text(r.customer_name, " · ", d.phone),
            rx.text(r.issue, " · ", d.vehicle, " ", d.vehicle_reg),
            rx.text(r.location_label, rx.cond(r.approximate, " (approximate: confirm by phone)", "")),
            rx.text("Status: ", rx.text.strong(r.status), " · technician: ",
                    rx.text.strong(r.technician, id="drawer-technician")),
            rx.cond(DispatchState.message != "",
                    rx.callout(DispatchState.message, size="1", color_scheme=DispatchState.message_kind,
                               id="drawer-message")),
            rx.heading("Suggested technicians", size="3"),
            rx.foreach(d.suggestions, lambda s: rx.hstack(
                rx.text(s.name, " · ", s.eta_minutes, " min · ", s.distance_km, " km", size="2"),
                rx.spacer(),
                rx.button(rx.cond(d.assigned, "Reassign", "Assign"), size="1",
                          on_click=DispatchState.assign(s.technician_id), class_name="assign"),
                width="100%")),
            rx.hstack(
                rx.cond(d.assigned,
                        rx.button("Unassign", on_click=DispatchState.unassign, size="1", variant="soft",
                                  id="unassign")),
                width="100%"),
            rx.form(rx.hstack(rx.input(name="text", placeholder="Add a note", size="1", flex="1"),
                              rx.button("Note", size="1", type="submit"), width="100%"),
                    on_submit=DispatchState.note, reset_on_submit=True, width="100%"),
            rx.form(rx.hstack(rx.input(name="reason", placeholder="Reason to cancel", size="1", flex="1"),
                              rx.button("Cancel request", size="1", color_scheme="red", type="submit"), width="100%"),
                    on_submit=DispatchState.cancel, reset_on_submit=True, width="100%"),
            rx.heading("Timeline", size="3"),
            rx.foreach(d.timeline, lambda e: rx.text(
                e.time, " ", rx.text.strong(e.kind), " by ", e.actor, " ", e.text, size="1",
                class_name="timeline-line")),
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
                _ratings(),
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
