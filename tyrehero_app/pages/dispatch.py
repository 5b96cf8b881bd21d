"""`/dispatch`: the whole country on one live map, the queue with its SLA clock, and full control."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import Any

import reflex as rx
from pydantic import BaseModel

from core import labels
from core.dispatch import console, manual
from core.dispatch.console import Alert, ConsoleSnapshot, QueueItem, RequestDetail, Suggestion
from core.errors import Conflict, Forbidden, NotFound, ValidationFailed
from core.notify.outbox import MessageLine
from core.phones import display
from core.principal import Principal, Role
from core.requests.rating import LowRating
from core.requests.resend import resend_tracking_link
from core.states import CANCELLABLE, RequestStatus
from tyrehero_app.components.staff import confirm_dialog, denied_notice, staff_frame
from tyrehero_app.guard import StaffPage, guarded
from tyrehero_app.runtime import get_core

_SLA_COLOR = {"ok": "green", "amber": "amber", "red": "red"}
_REASSIGNABLE = frozenset({RequestStatus.PENDING, RequestStatus.ASSIGNED, RequestStatus.EN_ROUTE})
_UNASSIGNABLE = frozenset({RequestStatus.ASSIGNED, RequestStatus.EN_ROUTE})
_DELIVERY_COLOR = {"delivered": "green", "sent": "green", "queued": "blue", "failed": "red", "dead": "red",
                   "skipped": "gray", "pending": "amber", "sending": "amber"}
_NOT_DELIVERED = frozenset({"failed", "dead", "skipped", "pending"})


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


class MessageRow(BaseModel):
    """One text about the selected request, as the drawer lists it."""

    time: str
    what: str
    sent_to: str  # " to driver by text"
    status: str
    color: str
    preview: str
    error: str

    @classmethod
    def of(cls, m: MessageLine) -> MessageRow:
        color = _DELIVERY_COLOR.get(m.status, "gray")
        how = {"sms": " by text", "push": " by push notification"}.get(m.channel, "")
        return cls(time=m.created_at[11:19], what=labels.message(m.template),
                   sent_to=(" to driver" if m.recipient == "customer" else " to technician") + how,
                   status=labels.delivery(m.status), color=color, preview=m.preview,
                   error=m.last_error if m.status in _NOT_DELIVERED else "")


class Drawer(BaseModel):
    """The selected request as the drawer shows it: the phone number spaced for reading aloud, and only the
    actions its status allows (none once it is closed)."""

    request: QueueItem
    assigned: bool
    phone: str
    vehicle: str
    vehicle_reg: str | None
    timeline: list[TimelineLine]
    suggestions: list[Suggestion]
    messages: list[MessageRow]
    can_resend: bool
    can_assign: bool
    can_unassign: bool
    can_cancel: bool

    @classmethod
    def of(cls, d: RequestDetail) -> Drawer:
        lines = [TimelineLine(time=e.at[11:19], kind=labels.event(e.kind), actor=e.actor,
                              text=str(e.data.get("text") or e.data.get("reason") or e.data.get("technician") or ""))
                 for e in reversed(d.timeline)]
        status = d.request.status
        return cls(request=d.request, assigned=bool(d.request.technician_id), phone=display(d.phone), vehicle=d.vehicle,
                   vehicle_reg=d.vehicle_reg, timeline=lines, suggestions=d.suggestions,
                   messages=[MessageRow.of(m) for m in d.messages], can_resend=d.link_works,
                   can_assign=status in _REASSIGNABLE, can_unassign=status in _UNASSIGNABLE,
                   can_cancel=status in CANCELLABLE)


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
    pending_kind: str = ""  # "" | assign | unassign | cancel: the confirmation dialog is open
    pending_title: str = ""
    pending_tech: int = 0
    pending_from: int = 0
    pending_reason: str = ""

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
        self.message, self.pending_kind = "", ""
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

    # Every change asks first, naming its target: ask_* fills the dialog, confirm does it, dismiss closes it.
    @guarded(*STAFF)
    def ask_assign(self, who: Principal, technician_id: int) -> None:
        d = self.detail
        if d is None:
            return
        to = next((s for s in d.suggestions if s.technician_id == technician_id), None)
        if to is None:
            self.message, self.message_kind = "That technician is no longer suggested: choose again.", "red"
            return
        r = d.request
        if r.technician_id:
            now = f"{r.technician} ({r.eta_min} min)" if r.eta_min is not None else f"{r.technician}"
            self.pending_title = f"Reassign {r.reference} from {now} to {to.name} ({to.eta_minutes} min)?"
        else:
            self.pending_title = f"Assign {r.reference} to {to.name} ({to.eta_minutes} min)?"
        self.pending_kind, self.pending_tech, self.pending_reason = "assign", int(technician_id), ""
        self.pending_from = r.technician_id or 0

    @guarded(*STAFF)
    def ask_unassign(self, who: Principal) -> None:
        if self.detail is None or not self.detail.request.technician_id:
            return
        r = self.detail.request
        self.pending_kind, self.pending_tech, self.pending_reason = "unassign", 0, ""
        self.pending_title = f"Unassign {r.technician} from {r.reference}? It goes back to the queue."

    @guarded(*STAFF)
    def ask_cancel(self, who: Principal, form: dict) -> None:
        if self.detail is None:
            return
        reason = str(form.get("reason") or "").strip()[:200]
        if not reason:
            self.message, self.message_kind = "Say why the request is cancelled.", "red"
            return
        r = self.detail.request
        self.pending_kind, self.pending_tech, self.pending_reason = "cancel", 0, reason
        self.pending_title = f"Cancel {r.reference} for {r.customer_name}? The driver is told at once."

    @guarded(*STAFF)
    def dismiss(self, who: Principal) -> None:
        self.pending_kind = ""

    @guarded(*STAFF)
    async def confirm(self, who: Principal) -> None:
        kind, self.pending_kind = self.pending_kind, ""
        if kind == "assign":
            await self._act(who, manual.assign, self.pending_tech, self.pending_from or None)
        elif kind == "unassign":
            await self._act(who, manual.unassign)
        elif kind == "cancel":
            await self._act(who, manual.cancel, self.pending_reason)

    @guarded(*STAFF)
    async def resend_link(self, who: Principal) -> None:
        """Text the driver the tracking link again (audited; at most once a minute)."""
        await self._act(who, resend_tracking_link)
        if self.message == "Done.":
            self.message = "Tracking link texted to the driver again."

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
    def alert(a: rx.Var[Alert]) -> rx.Component:
        return rx.callout.root(
            rx.callout.icon(rx.icon("triangle-alert", aria_hidden="true")),
            rx.hstack(
                rx.callout.text(a.text),
                rx.spacer(),
                rx.cond(a.request_id, rx.button("Open", size="1", variant="surface",
                                               aria_label="Open the request: " + a.text,
                                               on_click=DispatchState.select(a.request_id), class_name="alert-open")),
                width="100%", align="center"),
            size="1", color_scheme=rx.cond(a.severity == "critical", "red", "amber"), width="100%")

    return rx.el.section(
        rx.vstack(rx.foreach(DispatchState.alerts, alert), spacing="1", width="100%"),
        aria_label="Alerts", role="status", aria_live="polite", id="alerts", style={"width": "100%"},
    )


def _queue() -> rx.Component:
    """Each row's request is a real button (keyboard: Tab to it, Enter opens the drawer), not a clickable row."""
    def row(r: rx.Var[QueueRow]) -> rx.Component:
        return rx.table.row(
            rx.table.cell(rx.badge("P", r.priority, color_scheme="gray")),
            rx.table.cell(rx.el.button(
                rx.text(r.reference, weight="bold", as_="span", display="block"),
                rx.text(r.issue, size="1", as_="span", display="block"),
                on_click=DispatchState.select(r.id), class_name="th-row-open", type="button",
                id="open-" + r.reference, aria_label="Open " + r.reference + ", " + r.issue,
                aria_pressed=rx.cond(DispatchState.selected_id == r.id, "true", "false"))),
            rx.table.cell(rx.text(r.location_label, size="2")),
            rx.table.cell(rx.badge(r.status_label, variant="soft", color_scheme="gray")),
            rx.table.cell(rx.badge(r.sla_text, color_scheme=r.color, class_name="sla")),
            rx.table.cell(rx.text(r.technician, size="2")),
            class_name=rx.cond(DispatchState.selected_id == r.id, "queue-row th-selected", "queue-row"),
            id="row-" + r.reference,
        )

    return rx.el.section(
        rx.table.root(
            rx.el.caption("Open requests, most urgent first", class_name="th-visually-hidden"),
            rx.table.header(rx.table.row(*[rx.table.column_header_cell(h) for h in
                                           ("Priority", "Request", "Where", "Status", "90-minute promise",
                                            "Technician")])),
            rx.table.body(rx.foreach(DispatchState.rows, row)),
            size="1", width="100%",
        ),
        aria_label="Queue", id="queue", tab_index=0,
        style={"overflow_y": "auto", "max_height": "72vh", "width": "100%"},
    )


def _drawer() -> rx.Component:
    d = DispatchState.detail
    r = d.request
    return rx.el.section(rx.card(
        rx.vstack(
            rx.hstack(rx.heading(r.reference, size="5", as_="h2", id="drawer-reference"), rx.spacer(),
                      rx.button("Close", on_click=DispatchState.close, variant="soft", size="2",
                                aria_label="Close " + r.reference), width="100%"),
            rx.text(r.customer_name, " · ", d.phone),
            rx.text(r.issue, " · ", d.vehicle, " ", d.vehicle_reg),
            rx.text(r.location_label, rx.cond(r.postcode, rx.el.span(" · ", r.postcode, id="drawer-postcode"), ""),
                    rx.cond(r.approximate, rx.el.span(" (approximate: confirm by phone)", id="drawer-approximate"))),
            rx.text("Status: ", rx.text.strong(r.status_label, id="drawer-status"), " · technician: ",
                    rx.text.strong(r.technician, id="drawer-technician"),
                    rx.cond(r.eta_min, rx.el.span(" · arrives in ", r.eta_min, " min", id="drawer-eta")),
                    role="status", aria_live="polite"),
            rx.text("Promise: ", rx.badge(r.sla_text, color_scheme=rx.cond(r.will_breach, "red", "green"))),
            rx.box(rx.cond(DispatchState.message != "",
                           rx.callout(DispatchState.message, size="1", color_scheme=DispatchState.message_kind,
                                      id="drawer-message")), role="status", aria_live="polite", width="100%"),
            rx.cond(d.can_assign, rx.vstack(
                rx.heading("Suggested technicians", size="3", as_="h3"),
                rx.foreach(d.suggestions, lambda s: rx.hstack(
                    rx.text(s.name, " · ", s.eta_minutes, " min · ", s.distance_km, " km", size="2"),
                    rx.spacer(),
                    rx.button(rx.cond(d.assigned, "Reassign", "Assign"), size="2",
                              aria_label=rx.cond(d.assigned, "Reassign to ", "Assign ") + s.name,
                              on_click=DispatchState.ask_assign(s.technician_id), class_name="assign"),
                    width="100%", align="center")),
                width="100%")),
            rx.cond(d.can_unassign,
                    rx.button("Unassign", on_click=DispatchState.ask_unassign, size="2", variant="soft",
                              id="unassign", aria_label="Unassign " + r.technician.to(str))),
            rx.form(rx.hstack(
                rx.el.label("Note", html_for="note-text", class_name="th-visually-hidden"),
                rx.el.input(name="text", id="note-text", placeholder="Add a note", class_name="th-select",
                            style={"flex": "1"}),
                rx.button("Add note", size="2", type="submit"), width="100%", align="center"),
                on_submit=DispatchState.note, reset_on_submit=True, width="100%"),
            rx.cond(d.can_cancel, rx.form(rx.hstack(
                rx.el.label("Reason to cancel", html_for="cancel-reason", class_name="th-visually-hidden"),
                rx.el.input(name="reason", id="cancel-reason", placeholder="Reason to cancel", class_name="th-select",
                            style={"flex": "1"}),
                rx.button("Cancel request", size="2", color_scheme="red", type="submit", id="cancel-request"),
                width="100%", align="center"),
                on_submit=DispatchState.ask_cancel, reset_on_submit=False, width="100%")),
            rx.heading("Texts", size="3", as_="h3"),
            rx.cond(d.messages.length() > 0, rx.el.ul(rx.foreach(d.messages, _message_line), class_name="th-plain",
                                                       id="drawer-messages"),
                    rx.text("No texts yet.", size="1")),
            rx.cond(d.can_resend, rx.button("Text the tracking link again", on_click=DispatchState.resend_link,
                                            size="2", variant="soft", id="resend-link",
                                            aria_label="Text the tracking link for " + r.reference + " again")),
            rx.heading("Timeline", size="3", as_="h3"),
            rx.foreach(d.timeline, lambda e: rx.text(
                e.time, " ", rx.text.strong(e.kind), " by ", e.actor, " ", e.text, size="1",
                class_name="timeline-line")),
            spacing="2",
            width="100%",
        ),
        width="100%"), id="drawer", aria_label="Selected request", style={"width": "100%"},
    )


def _message_line(m: rx.Var[MessageRow]) -> rx.Component:
    return rx.el.li(
        rx.text(m.time, " ", rx.text.strong(m.what), m.sent_to, " ",
                rx.badge(m.status, color_scheme=m.color, variant="soft"),
                rx.cond(m.error != "", rx.el.span(" (", m.error, ")")), size="1"),
        rx.text(m.preview, size="1", color_scheme="gray"), class_name="message-line")


def _legend_item(color: str, text: str, shape: str = "dot") -> rx.Component:
    return rx.hstack(rx.el.span(class_name=f"th-key th-key-{shape}", style={"background": color}, aria_hidden="true"),
                     rx.text(text, size="1"), spacing="1", align="center")


def _legend() -> rx.Component:
    """What the map's marks mean (the map's own layer switch turns each group on and off)."""
    return rx.el.section(
        rx.hstack(
            rx.text("Requests:", size="1", weight="bold"),
            _legend_item("#dc2626", "P1"), _legend_item("#ea580c", "P2"), _legend_item("#f59e0b", "P3"),
            _legend_item("#ca8a04", "P4"),
            rx.text("Vans:", size="1", weight="bold"),
            _legend_item("#16a34a", "available"), _legend_item("#2563eb", "job offered"),
            _legend_item("#7c3aed", "on the way"), _legend_item("#0891b2", "on site"),
            _legend_item("#9ca3af", "break / no recent position"),
            rx.text("Areas:", size="1", weight="bold"),
            _legend_item("#22c55e", "vans available", "hex"), _legend_item("#f59e0b", "more requests than vans", "hex"),
            _legend_item("#dc2626", "no van within 90 min", "hex"),
            wrap="wrap", spacing="3", align="center"),
        rx.text("Click a request on the map to open it. Use the layer switch on the map to show or hide "
                "requests, vans and areas.", size="1"),
        aria_label="Map legend", id="map-legend", style={"width": "100%"},
    )


def dispatch() -> rx.Component:
    return staff_frame(
        "TyreHero dispatch", DispatchState.user_name,
        rx.moment(interval=1500, on_change=DispatchState.refresh, display="none"),
        rx.script(src="/dispatch-map.js"),
        rx.cond(
            DispatchState.denied != "",
            denied_notice(DispatchState.denied),
            rx.vstack(
                _figures(),
                _ratings(),
                _alerts(),
                rx.grid(
                    rx.vstack(
                        rx.el.iframe(src="/map/dispatch", title="Live map", id="live-map",
                                     style={"width": "100%", "height": "70vh", "border": "0", "border_radius": "8px"}),
                        _legend(), width="100%", spacing="2"),
                    rx.vstack(rx.cond(DispatchState.selected_id > 0, _drawer()), _queue(), width="100%"),
                    columns="3fr 2fr", spacing="3", width="100%",
                ),
                confirm_dialog(DispatchState.pending_kind != "", DispatchState.pending_title,
                               rx.text("Everyone concerned sees the change at once."),
                               rx.match(DispatchState.pending_kind,
                                        ("assign", rx.cond(DispatchState.pending_from > 0, "Reassign", "Assign")),
                                        ("unassign", "Unassign"), ("cancel", "Cancel request"), "Confirm"),
                               DispatchState.confirm, DispatchState.dismiss,
                               danger=True, dialog_id="dispatch-confirm", confirm_id="confirm-yes"),
                spacing="3", width="100%",
            ),
        ),
        links=(("Admin", "/admin"), ("Your account", "/account")),
    )
