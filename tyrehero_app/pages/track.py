"""`/track/<token>`: the driver follows their request live."""

from __future__ import annotations

import asyncio
import re
from datetime import datetime
from urllib.parse import urlparse

import reflex as rx
from pydantic import BaseModel

from core.errors import IllegalTransition, NotFound, Unavailable
from core.notify.promises import TRACKING_PROMISE
from core.requests.pricing import LONDON
from core.requests.tracking import cancel_by_token, track
from core.schemas import TrackingView
from core.states import RequestStatus
from tyrehero_app import routes, styles
from tyrehero_app.components.layout import layout
from tyrehero_app.guard import Declared, public
from tyrehero_app.runtime import get_core

R = RequestStatus
_STATUS_COLOR = {R.PENDING: "amber", R.ASSIGNED: "blue", R.EN_ROUTE: "blue", R.ON_SITE: "green",
                 R.COMPLETED: "green", R.CANCELLED: "gray"}




class TrackLine(BaseModel):
    """One line of "What happened", newest first."""

    time: str
    text: str
    kind: str


def _clock(iso: str | None) -> str:
    """An ISO time as the UK clock shows it ("14:35")."""
    return datetime.fromisoformat(iso).astimezone(LONDON).strftime("%H:%M") if iso else ""


def _tel(phone: str) -> str:
    return "tel:" + re.sub(r"[^0-9+]", "", phone)


class TrackState(Declared, rx.State):
    """One request, as its token holder sees it; refreshed every 2 s by the page."""

    token: str = ""
    loaded: bool = False
    not_found: bool = False
    error: str = ""
    reference: str = ""
    status: str = ""
    status_text: str = ""
    eta_minutes: int = -1
    arrive_by: str = ""  # "14:35", UK time
    late_reason: str = ""
    no_van_in_reach: bool = False
    sla_minutes: int = 90
    quote: str = ""
    technician: str = ""
    van: str = ""
    location_label: str = ""
    postcode: str = ""
    approximate: bool = False
    cancellable: bool = False
    queue_position: int = 0
    phone: str = ""
    phone_tel: str = ""
    technician_tel: str = ""  # the technician's own tel: link, set by the core only while the job is live
    fitted: str = ""
    closed_at: str = ""  # "14:35": when it was completed or cancelled
    timeline: list[TrackLine] = []

    def _show(self, v: TrackingView) -> None:
        self.loaded, self.not_found, self.error = True, False, ""
        self.reference, self.status, self.status_text = v.reference, v.status, v.status_text
        self.eta_minutes = v.eta_minutes if v.eta_minutes is not None else -1
        self.arrive_by = _clock(v.arrive_by)
        self.late_reason, self.no_van_in_reach, self.sla_minutes = v.late_reason or "", v.no_van_in_reach, v.sla_minutes
        self.quote = f"£{v.quote_pence / 100:,.2f}"
        self.technician = v.technician.first_name if v.technician else ""
        self.van = " · ".join(x for x in (v.technician.van, v.technician.registration) if x) if v.technician else ""
        if v.technician and v.technician.van == v.technician.registration:
            self.van = v.technician.van
        self.location_label, self.approximate = v.location_label, v.location_approximate
        # The postcode once: a district fallback's label names it already ("SW1A 1AA area (approximate)").
        self.postcode = v.postcode if v.postcode and v.postcode not in v.location_label else ""
        self.cancellable = v.cancellable
        self.queue_position = v.queue_position or 0
        self.phone, self.phone_tel = v.phone, _tel(v.phone)
        self.technician_tel = v.technician_tel or ""
        self.fitted = v.fitted or ""
        closing = {"completed": "completed", "cancelled": "cancelled"}.get(v.status)
        self.closed_at = next((_clock(e.at) for e in reversed(v.timeline) if e.kind == closing), "") if closing else ""
        self.timeline = [TrackLine(time=_clock(e.at), text=e.text, kind=e.kind) for e in reversed(v.timeline)]

    @public
    async def load(self) -> None:
        self.token = urlparse(str(self.router.url)).path.rstrip("/").rsplit("/", 1)[-1]
        await self.refresh()

    @public
    async def refresh(self) -> None:
        if not self.token or self.not_found:
            return
        try:
            self._show(await asyncio.to_thread(track, get_core(), self.token))
        except NotFound:
            self.loaded, self.not_found = True, True
        except Unavailable:
            self.error = f"We cannot update this page right now. Call us on {get_core().settings.support_phone}."

    @public
    async def cancel(self) -> None:
        try:
            self._show(await asyncio.to_thread(cancel_by_token, get_core(), self.token))
        except IllegalTransition as e:
            self.error = e.message
        except NotFound:
            self.not_found = True

    @rx.var
    def map_src(self) -> str:
        return f"/map/track/{self.token}" if self.token and not self.not_found else ""

    @rx.var
    def color(self) -> str:
        return _STATUS_COLOR.get(self.status, "gray")


def _not_found() -> rx.Component:
    return rx.vstack(
        rx.heading("We couldn't find that request", size="6"),
        rx.text("The link may be incomplete. Open it again from our text message, or call us on 0800 123 4567 "
                "and we'll find it for you."),
        rx.link(rx.button("Ask for help", color_scheme=styles.ACCENT, **styles.big_button), href=routes.HOME,
                width="100%"),
        id="not-found",
        spacing="4",
        width="100%",
    )


def _cancel_button() -> rx.Component:
    return rx.alert_dialog.root(
        rx.alert_dialog.trigger(rx.button("Cancel my request", variant="outline", color_scheme="red", id="cancel",
                                          size="3", width="100%")),
        rx.alert_dialog.content(
            rx.alert_dialog.title("Cancel your request?"),
            rx.alert_dialog.description("If you cancel, the technician will not come. You can ask again at any time."),
            rx.hstack(
                rx.alert_dialog.cancel(rx.button("Keep my request", variant="soft", color_scheme="gray", size="3")),
                rx.alert_dialog.action(rx.button("Yes, cancel", color_scheme="red", size="3", id="confirm-cancel",
                                                 on_click=TrackState.cancel)),
                spacing="3",
                justify="end",
                margin_top="1em",
            ),
        ),
    )


def _call_buttons() -> rx.Component:
    """Real tel: links: the technician's own mobile while the job is live and one is on file, us always."""
    return rx.hstack(
        rx.cond(
            (TrackState.technician != "") & (TrackState.technician_tel != ""),
            rx.link(rx.button(rx.icon("phone"), "Call ", TrackState.technician, size="3", width="100%",
                              min_height="48px", color_scheme="blue"),
                    href=TrackState.technician_tel, flex="1", id="call-technician"),
        ),
        _call_tyrehero("Call TyreHero", flex="1"),
        width="100%",
        spacing="3",
    )


def _arrival() -> rx.Component:
    return rx.vstack(
        rx.heading("Arriving by ", rx.el.span(TrackState.arrive_by, id="arrive-by"), size="7"),
        rx.text("About ", rx.el.span(TrackState.eta_minutes, id="eta"), " min from now.", color_scheme="gray"),
        rx.cond(TrackState.late_reason != "",
                rx.callout(rx.text("We're sorry: this is later than our ", TrackState.sla_minutes,
                                   "-minute promise, because ", TrackState.late_reason, ".", id="late"),
                           icon="clock", color_scheme="orange", width="100%")),
        spacing="1",
        width="100%",
    )


def _waiting() -> rx.Component:
    return rx.cond(
        TrackState.no_van_in_reach,
        rx.callout(
            rx.text("No van can reach you within our ", TrackState.sla_minutes, "-minute promise right now. "
                    "A dispatcher is looking for help by hand. Call us and we'll tell you what we can do.",
                    id="no-van"),
            icon="clock", color_scheme="red", width="100%"),
        rx.text("You're in the queue, position ", rx.text.strong(TrackState.queue_position, id="queue-position"),
                ". A van is sent as soon as one is free nearby — this page updates by itself.", id="queue"),
    )


def _where() -> rx.Component:
    return rx.hstack(
        rx.icon("map-pin"),
        rx.text(TrackState.location_label, id="track-location"),
        rx.cond(TrackState.postcode != "", rx.badge(TrackState.postcode, variant="outline", id="track-postcode")),
        rx.cond(TrackState.approximate,
                rx.text("Approximate: your technician will call you to find you.", size="2", color_scheme="orange",
                        weight="medium", id="track-approximate")),
        align="center",
        wrap="wrap",
    )


def _summary() -> rx.Component:
    return rx.card(
        rx.vstack(
            rx.hstack(
                rx.text("Reference ", rx.text.strong(TrackState.reference, id="reference", white_space="nowrap")),
                rx.spacer(),
                rx.badge(TrackState.status_text, color_scheme=TrackState.color, size="3", id="status"),
                width="100%",
                align="center",
            ),
            rx.cond(TrackState.eta_minutes >= 0, _arrival()),
            rx.cond(TrackState.status == R.PENDING, _waiting()),
            rx.cond(
                TrackState.technician != "",
                rx.hstack(rx.icon("truck"), rx.text(TrackState.technician, " · ", TrackState.van, id="technician")),
            ),
            _where(),
            rx.text("Price: ", rx.text.strong(TrackState.quote, id="price"), " (pay the technician by card)"),
            _call_buttons(),
            spacing="3",
            width="100%",
            role="status",
            aria_live="polite",
        ),
        width="100%",
    )


def _receipt() -> rx.Component:
    return rx.card(
        rx.vstack(
            rx.hstack(rx.icon("circle-check", color="green"), rx.heading("Job completed", size="6", as_="h1"),
                      align="center"),
            rx.text("Your technician finished at ", TrackState.closed_at, ". Reference ",
                    rx.text.strong(TrackState.reference, id="reference"), "."),
            rx.cond(TrackState.fitted != "", rx.text("Fitted: ", rx.text.strong(TrackState.fitted, id="fitted"))),
            rx.text("Price: ", rx.text.strong(TrackState.quote, id="price"), ", payable to the technician by card."),
            rx.badge(TrackState.status_text, color_scheme="green", size="3", id="status"),
            rx.text("Thank you for calling TyreHero. Drive safely.", color_scheme="gray"),
            _call_tyrehero("Questions? Call TyreHero", width="100%"),
            spacing="3",
            width="100%",
        ),
        width="100%",
        id="receipt",
    )


def _call_tyrehero(label: str, **place: str) -> rx.Component:
    """TyreHero's number as a real `tel:` link, at least 48 px tall."""
    return rx.link(rx.button(rx.icon("phone"), label, size="3", variant="soft", color_scheme="gray", width="100%",
                             min_height="48px"),
                   href=TrackState.phone_tel, id="call-tyrehero", **place)


def _cancelled() -> rx.Component:
    return rx.card(
        rx.vstack(
            rx.heading("Request cancelled", size="6", as_="h1"),
            rx.text("Request ", rx.text.strong(TrackState.reference, id="reference"), " was cancelled at ",
                    TrackState.closed_at, ". No van is coming, and you pay nothing."),
            rx.badge(TrackState.status_text, color_scheme="gray", size="3", id="status"),
            rx.link(rx.button("Ask for help again", color_scheme=styles.ACCENT, **styles.big_button),
                    href=routes.HOME, width="100%", id="ask-again"),
            _call_tyrehero("Call TyreHero", width="100%"),
            spacing="3",
            width="100%",
        ),
        width="100%",
        id="cancelled",
    )


def _timeline() -> rx.Component:
    return rx.vstack(
        rx.heading("What happened", size="4"),
        rx.foreach(
            TrackState.timeline,
            lambda e: rx.hstack(rx.text(e.time, color_scheme="gray", size="2", min_width="3em"),
                                rx.text(e.text, size="3", class_name="timeline-entry"), align="baseline"),
        ),
        spacing="2",
        width="100%",
        id="timeline",
    )


def _live() -> rx.Component:
    return rx.vstack(
        rx.heading("Your request", size="5", as_="h1"),
        _summary(),
        rx.text(TRACKING_PROMISE, size="2", color_scheme="gray", id="texts-promise"),
        rx.cond(TrackState.error != "", rx.callout(TrackState.error, color_scheme="red", width="100%")),
        rx.el.iframe(src=TrackState.map_src, title="Live map",
                     style={"width": "100%", "height": "300px", "border": "0", "border_radius": "12px"}),
        _timeline(),
        rx.cond(TrackState.cancellable, _cancel_button()),
        spacing="4",
        width="100%",
    )


@layout
def tracking() -> rx.Component:
    return rx.vstack(
        rx.moment(interval=2000, on_change=TrackState.refresh, display="none"),
        rx.cond(
            TrackState.not_found,
            _not_found(),
            rx.cond(
                TrackState.loaded,
                rx.match(
                    TrackState.status,
                    (R.COMPLETED.value, rx.vstack(_receipt(), _timeline(), spacing="4", width="100%")),
                    (R.CANCELLED.value, rx.vstack(
                        rx.cond(TrackState.error != "", rx.callout(TrackState.error, color_scheme="red",
                                                                   width="100%")),
                        _cancelled(), _timeline(), spacing="4", width="100%")),
                    _live(),
                ),
                rx.center(rx.spinner(size="3"), width="100%", padding="3em"),
            ),
        ),
        width="100%",
    )
