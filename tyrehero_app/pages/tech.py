"""`/tech`: the technician's phone. Big buttons, one job at a time, position sent while on shift."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime

import reflex as rx

from core import labels
from core.errors import Forbidden, IllegalTransition, NotFound
from core.principal import Principal, Role
from core.schemas import JobView
from core.states import RequestStatus, TechStatus
from core.technicians import jobs as svc
from core.technicians.views import phone_view
from tyrehero_app import styles
from tyrehero_app.browserjs import run_js
from tyrehero_app.components.layout import layout
from tyrehero_app.components.staff import confirm_dialog, denied_notice, logout_button
from tyrehero_app.guard import StaffPage, guarded
from tyrehero_app.runtime import get_core

T = TechStatus
ON_SHIFT = tuple(str(t) for t in T if t != T.OFFLINE)

# What the phone's offer alerts are (assets/tech-alerts.js answers one of these codes), in the technician's words.
ALERTS = {
    "on": "Offer alerts are on: a new job rings this phone, even with TyreHero closed.",
    "off": "Offer alerts are off. Offers come by text.",
    "dismissed": "Notifications were not allowed. Offers will come by text instead.",
    "denied": "This browser blocks notifications from TyreHero, so offers will come by text instead. "
              "To get alerts, allow notifications for this site in the browser's settings.",
    "unsupported": "This browser cannot show offer alerts. Offers will come by text instead.",
    "failed": "Offer alerts could not be turned on here. Offers will come by text instead.",
    "server-off": "Offer alerts are not available. Offers come by text.",
}
CAN_TURN_ON = ("off", "dismissed", "failed")
# Waits for /tech-alerts.js (loaded by the page) and asks it whether this phone takes alerts.
_ALERTS_STATUS = ("(async () => { for (let i = 0; i < 50 && !window.thAlerts; i++) await new Promise("
                  "(r) => setTimeout(r, 100)); return window.thAlerts ? window.thAlerts.status() : 'unsupported'; })()")


class TechState(StaffPage, rx.State):
    """One technician's phone: their shift and their job. Technicians only, each acting on their own."""

    status: str = ""
    position_age: str = ""
    job: JobView | None = None
    message: str = ""
    offer_seconds: int = -1
    confirm_end: bool = False  # the "End shift?" dialog is open
    alerts: str = ""  # this phone's offer alerts, one of ALERTS ("" until the browser answered)

    @guarded(Role.TECHNICIAN)
    async def load(self, who: Principal) -> None:
        self.user_name = who.name
        await self._refresh(who)

    @guarded(Role.TECHNICIAN)
    async def refresh(self, who: Principal) -> None:
        await self._refresh(who)

    async def _refresh(self, who: Principal) -> None:
        try:
            view = await asyncio.to_thread(phone_view, get_core(), who)
        except NotFound:
            return
        shift, job = view.shift, view.job
        self.status = shift.status
        if shift.position_at:
            secs = int((datetime.now(UTC) - shift.position_at).total_seconds())
            self.position_age = f"{secs} s ago" if secs < 120 else f"{secs // 60} min ago"
        else:
            self.position_age = "not yet"
        self.job = job
        if job and job.offer_expires_at:
            left = (datetime.fromisoformat(job.offer_expires_at) - datetime.now(UTC)).total_seconds()
            self.offer_seconds = max(0, int(left))
        else:
            self.offer_seconds = -1

    @guarded(Role.TECHNICIAN)
    async def set_shift(self, who: Principal, status: str) -> None:
        await self._set_shift(who, status)

    async def _set_shift(self, who: Principal, status: str) -> None:
        self.message = ""
        try:
            await asyncio.to_thread(svc.set_shift_status, get_core(), who, TechStatus(status))
        except ValueError:
            self.message = "Choose available, break or off shift."
        except (IllegalTransition, NotFound, Forbidden) as e:
            self.message = e.message
        await self._refresh(who)

    @guarded(Role.TECHNICIAN)
    def ask_end_shift(self, who: Principal) -> None:
        self.confirm_end = True

    @guarded(Role.TECHNICIAN)
    def keep_shift(self, who: Principal) -> None:
        self.confirm_end = False

    @guarded(Role.TECHNICIAN)
    async def end_shift(self, who: Principal) -> None:
        self.confirm_end = False
        await self._set_shift(who, T.OFFLINE)

    async def _act(self, who: Principal, action: str, form: dict | None = None) -> None:
        self.message = ""
        if self.job is None:  # a tap queued while offline can arrive in a fresh tab state: read the job first
            await self._refresh(who)
        if self.job is None:
            return
        data = ({"fitted": str(form.get("fitted") or "")[:200], "note": str(form.get("note") or "")[:500]}
                if form else None)
        try:
            await asyncio.to_thread(svc.job_action, get_core(), who, self.job.id, action, data)
        except (IllegalTransition, NotFound, Forbidden) as e:
            self.message = e.message
        await self._refresh(who)

    @guarded(Role.TECHNICIAN)
    async def act(self, who: Principal, action: str) -> None:
        await self._act(who, action)

    @guarded(Role.TECHNICIAN)
    async def complete(self, who: Principal, form: dict) -> None:
        await self._act(who, "complete", form)

    @guarded(Role.TECHNICIAN)
    def alerts_result(self, who: Principal, code: object) -> None:
        """What the browser answered about offer alerts (the subscription itself went to the API)."""
        self.alerts = code if isinstance(code, str) and code in ALERTS else "failed"

    @rx.var
    def alerts_words(self) -> str:
        return ALERTS.get(self.alerts, "Checking offer alerts…")

    @rx.var
    def status_words(self) -> str:
        return labels.tech_status(self.status)

    @rx.var
    def job_status_words(self) -> str:
        return labels.request_status(self.job.status) if self.job else ""


def _shift_controls() -> rx.Component:
    return rx.card(
        rx.vstack(
            rx.hstack(
                rx.text("Status: ", rx.text.strong(TechState.status_words, id="tech-status"), role="status",
                        aria_live="polite"),
                rx.spacer(),
                rx.text("Position sent ", TechState.position_age, size="2", color_scheme="gray", id="position-age"),
                width="100%",
            ),
            rx.cond(
                TechState.status == T.OFFLINE,
                rx.button("Start shift", on_click=TechState.set_shift(T.AVAILABLE), color_scheme="green",
                          id="start-shift", **styles.big_button),
                rx.cond(
                    TechState.status == T.AVAILABLE,
                    rx.hstack(
                        rx.button("Take a break", on_click=TechState.set_shift(T.BREAK), variant="soft", size="3",
                                  id="break", flex="1", min_height="48px"),
                        rx.button("End shift", on_click=TechState.ask_end_shift, variant="soft",
                                  color_scheme="gray", size="3", id="end-shift", flex="1", min_height="48px"),
                        width="100%",
                    ),
                    rx.cond(TechState.status == T.BREAK,
                            rx.button("Back to work", on_click=TechState.set_shift(T.AVAILABLE), color_scheme="green",
                                      id="back-to-work", **styles.big_button)),
                ),
            ),
            spacing="3",
            width="100%",
        ),
        width="100%",
    )


def _offer_alerts() -> rx.Component:
    return rx.card(
        rx.vstack(
            rx.heading("Offer alerts", size="3", as_="h2"),
            rx.text(TechState.alerts_words, id="alerts-status", role="status", aria_live="polite", size="2"),
            rx.cond(
                rx.Var.create(list(CAN_TURN_ON)).contains(TechState.alerts),
                rx.button(rx.icon("bell-ring"), "Turn on offer alerts", id="alerts-on", variant="soft", size="3",
                          width="100%", min_height="48px",
                          on_click=run_js("window.thAlerts ? window.thAlerts.enable() : 'unsupported'",
                                          callback=TechState.alerts_result)),
            ),
            rx.cond(
                TechState.alerts == "on",
                rx.button("Turn off offer alerts", id="alerts-off", variant="ghost", color_scheme="gray", size="2",
                          min_height="44px",
                          on_click=run_js("window.thAlerts ? window.thAlerts.disable() : 'unsupported'",
                                          callback=TechState.alerts_result)),
            ),
            # Clicked by /tech-alerts.js when the service worker hears of a pushed offer: the offer shows at once.
            rx.el.button("Refresh", id="offer-refresh", type="button", on_click=TechState.refresh,
                         style={"display": "none"}, aria_hidden="true", tab_index=-1),
            spacing="2",
            width="100%",
        ),
        width="100%",
        id="offer-alerts",
        on_mount=run_js(_ALERTS_STATUS, callback=TechState.alerts_result),
    )


def _job_card() -> rx.Component:
    j = TechState.job
    return rx.card(
        rx.vstack(
            rx.hstack(rx.heading("Job ", j.reference, size="5", as_="h2"), rx.spacer(),
                      rx.badge(TechState.job_status_words, size="3", id="job-status"), width="100%",
                      role="status", aria_live="polite"),
            rx.text(rx.text.strong(j.issue), " · ", j.vehicle, " ", j.vehicle_reg, id="job-what"),
            rx.text("Customer: ", rx.text.strong(j.customer_first_name), id="job-customer"),
            rx.text(j.location_label, " — ", j.distance_km, " km, about ", j.eta_minutes, " min"),
            rx.hstack(rx.cond(j.postcode, rx.badge(j.postcode, variant="outline", size="2", id="job-postcode")),
                      rx.cond(j.location_approximate, rx.badge("Approximate: call to find them", color_scheme="orange",
                                                               size="2", id="job-approximate"))),
            rx.cond(j.on_motorway, rx.badge("Motorway / hard shoulder", color_scheme="red", size="2")),
            rx.cond(j.vulnerable, rx.badge("Vulnerable people in the car", color_scheme="red", size="2")),
            rx.cond(j.notes != "", rx.text("Note: ", j.notes, size="2")),
            rx.hstack(
                rx.link(rx.button(rx.icon("navigation"), "Navigate", size="3", min_height="48px", width="100%"),
                        href=j.navigate_url, is_external=True, flex="1", id="navigate"),
                rx.link(rx.button(rx.icon("phone"), "Call", size="3", variant="soft", min_height="48px", width="100%"),
                        href="tel:" + j.customer_phone, flex="1", id="call"),
                width="100%",
            ),
            rx.cond(
                ~j.accepted,
                rx.vstack(
                    rx.cond(TechState.offer_seconds >= 0,
                            rx.text("Answer within ", rx.text.strong(TechState.offer_seconds), " s", id="offer-timer")),
                    rx.hstack(
                        rx.button("Accept", on_click=TechState.act("accept"), color_scheme="green", size="4",
                                  flex="2", min_height="56px", id="accept"),
                        rx.button("Decline", on_click=TechState.act("decline"), color_scheme="red", variant="soft",
                                  size="4", flex="1", min_height="56px", id="decline"),
                        width="100%",
                    ),
                    width="100%",
                ),
                rx.match(
                    j.status,
                    (RequestStatus.ASSIGNED, rx.button("On my way", on_click=TechState.act("en-route"), id="en-route",
                                           **styles.big_button)),
                    (RequestStatus.EN_ROUTE, rx.button("Arrived", on_click=TechState.act("arrived"), id="arrived",
                                           **styles.big_button)),
                    (RequestStatus.ON_SITE, rx.form(
                        rx.vstack(
                            rx.el.label("What was fitted", html_for="fitted", style={"font_weight": "600"}),
                            rx.el.input(name="fitted", placeholder="e.g. 1 x 205/55 R16", id="fitted",
                                        class_name="th-select"),
                            rx.el.label("Note (optional)", html_for="note", style={"font_weight": "600"}),
                            rx.el.input(name="note", id="note", class_name="th-select"),
                            rx.button("Job complete", type="submit", color_scheme="green", id="complete",
                                      **styles.big_button),
                            width="100%",
                        ),
                        on_submit=TechState.complete,
                        width="100%",
                    )),
                    rx.fragment(),
                ),
            ),
            spacing="3",
            width="100%",
        ),
        width="100%",
        id="job",
    )


@layout
def tech() -> rx.Component:
    return rx.vstack(
        rx.script(src="/tech-tracker.js"),
        rx.script(src="/tech-alerts.js"),
        # Each tick also starts or stops the position tracker as the shift says: code compiled into the page, no eval.
        rx.moment(interval=2000, display="none", on_change=[TechState.refresh, rx.run_script(rx.cond(
            rx.Var.create(list(ON_SHIFT)).contains(TechState.status),
            rx.Var("window.thTracker && window.thTracker.start()"),
            rx.Var("window.thTracker && window.thTracker.stop()")))]),
        rx.hstack(rx.heading(TechState.user_name, size="5", as_="h1"), rx.spacer(), logout_button(), width="100%",
                  align="center"),
        rx.cond(
            TechState.denied != "",
            denied_notice(TechState.denied),
            rx.vstack(
                _shift_controls(),
                rx.box(rx.cond(TechState.message != "", rx.callout(TechState.message, color_scheme="red", width="100%",
                                                                   id="tech-message")),
                       role="status", aria_live="polite", width="100%"),
                confirm_dialog(TechState.confirm_end, "End shift?",
                               rx.text("You stop receiving jobs and your position is no longer shared."),
                               "End shift", TechState.end_shift, TechState.keep_shift, dialog_id="end-shift-dialog",
                               confirm_id="end-shift-yes"),
                rx.cond(TechState.job, _job_card(),
                        rx.cond(TechState.status == T.AVAILABLE,
                                rx.text("No job right now. Jobs appear here by themselves.", color_scheme="gray",
                                        id="no-job"))),
                # Only once the page knows its technician: the card's first call is a guarded handler, and a
                # visitor without a session must be sent to log in by `load` alone.
                rx.cond(TechState.user_name != "", _offer_alerts()),
                spacing="4",
                width="100%",
            ),
        ),
        spacing="4",
        width="100%",
    )
