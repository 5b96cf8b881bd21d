"""`/track/<token>`: the driver follows their request live."""

from __future__ import annotations

import asyncio
from urllib.parse import urlparse

import reflex as rx
from pydantic import BaseModel

from core.errors import IllegalTransition, NotFound, Unavailable
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
    quote: str = ""
    technician: str = ""
    van: str = ""
    location_label: str = ""
    approximate: bool = False
    cancellable: bool = False
    queue_position: int = 0
    timeline: list[TrackLine] = []

    def _show(self, v: TrackingView) -> None:
        self.loaded, self.not_found, self.error = True, False, ""
        self.reference, self.status, self.status_text = v.reference, v.status, v.status_text
        self.eta_minutes = v.eta_minutes if v.eta_minutes is not None else -1
        self.quote = f"£{v.quote_pence / 100:,.2f}"
        self.technician = v.technician.first_name if v.technician else ""
        self.van = v.technician.van if v.technician else ""
        self.location_label, self.approximate = v.location_label, v.location_approximate
        self.cancellable = v.cancellable
        self.queue_position = v.queue_position or 0
        self.timeline = [TrackLine(time=e.at[11:16], text=e.text, kind=e.kind) for e in reversed(v.timeline)]

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


def _summary() -> rx.Component:
    return rx.card(
        rx.vstack(
            rx.hstack(
                rx.text("Reference ", rx.text.strong(TrackState.reference, id="reference")),
                rx.spacer(),
                rx.badge(TrackState.status_text, color_scheme=TrackState.color, size="3", id="status"),
                width="100%",
                align="center",
            ),
            rx.cond(
                TrackState.eta_minutes >= 0,
                rx.heading("Arriving in about ", rx.el.span(TrackState.eta_minutes, id="eta"), " min", size="7"),
            ),
            rx.cond(
                TrackState.status == R.PENDING,
                rx.text("You're in the queue, position ",
                        rx.text.strong(TrackState.queue_position, id="queue-position"),
                        ". A van is sent as soon as one is free nearby — we'll text you.", id="queue"),
            ),
            rx.cond(
                TrackState.technician != "",
                rx.hstack(rx.icon("truck"), rx.text(TrackState.technician, " · ", TrackState.van, id="technician")),
            ),
            rx.hstack(rx.icon("map-pin"), rx.text(TrackState.location_label)),
            rx.text("Price: ", rx.text.strong(TrackState.quote, id="price"), " (pay the technician by card)"),
            spacing="3",
            width="100%",
        ),
        width="100%",
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


@layout
def tracking() -> rx.Component:
    return rx.vstack(
        rx.moment(interval=2000, on_change=TrackState.refresh, display="none"),
        rx.cond(
            TrackState.not_found,
            _not_found(),
            rx.cond(
                TrackState.loaded,
                rx.vstack(
                    _summary(),
                    rx.cond(TrackState.error != "", rx.callout(TrackState.error, color_scheme="red", width="100%")),
                    rx.el.iframe(src=TrackState.map_src, title="Live map",
                                 style={"width": "100%", "height": "260px", "border": "0", "border_radius": "12px"}),
                    _timeline(),
                    rx.cond(TrackState.cancellable, _cancel_button()),
                    spacing="4",
                    width="100%",
                ),
                rx.center(rx.spinner(size="3"), width="100%", padding="3em"),
            ),
        ),
        width="100%",
    )
