"""`/`: ask for help in under a minute, one-handed, on a phone."""

from __future__ import annotations

import asyncio
import uuid
from typing import Any

import reflex as rx
from pydantic import ValidationError

from core.errors import Conflict, Unavailable, ValidationFailed
from core.infra.addresses import client_address
from core.infra.ratelimit import RateLimited
from core.requests.intake import IDEMPOTENCY_FIELD, resolve_location, submit_request
from core.schemas import ISSUE_LABELS, LocationIn, RequestCreate, field_errors
from tyrehero_app import routes, styles
from tyrehero_app.browserjs import run_js
from tyrehero_app.components.layout import layout
from tyrehero_app.guard import Declared, public
from tyrehero_app.runtime import get_core

GEOLOCATE_JS = """
new Promise((resolve) => {
  if (!navigator.geolocation) { resolve({error: 'unsupported'}); return; }
  navigator.geolocation.getCurrentPosition(
    (p) => resolve({lat: p.coords.latitude, lng: p.coords.longitude, accuracy: p.coords.accuracy}),
    (e) => resolve({error: e.code === 1 ? 'denied' : 'unavailable'}),
    {enableHighAccuracy: true, timeout: 15000, maximumAge: 60000});
})
"""
_GEO_ERRORS = {
    "denied": "Location is blocked for this site. Allow it in your browser settings, or type your postcode below.",
    "unavailable": "Your phone could not find its position. Type your postcode below instead.",
    "unsupported": "This browser cannot share its location. Type your postcode below instead.",
}


def _location_error(errors: dict[str, str]) -> str:
    for key, msg in errors.items():
        if key.startswith("location"):
            return msg
    return ""



class RequestFormState(Declared, rx.State):
    """What the form shows: the understood location, per-field errors, and the submit guard."""

    lat: float | None = None
    lng: float | None = None
    location_label: str = ""
    location_approximate: bool = False
    locating: bool = False
    on_motorway: bool = False
    vulnerable: bool = False
    errors: dict[str, str] = {}
    server_error: str = ""
    submitting: bool = False
    form_key: str = ""

    @public
    def start(self) -> None:
        if not self.form_key:
            self.form_key = uuid.uuid4().hex

    @rx.var
    def map_src(self) -> str:
        return f"/map/point?lat={self.lat}&lng={self.lng}" if self.lat is not None else ""

    @rx.var
    def location_error(self) -> str:
        return _location_error(self.errors)

    @public
    def locate(self):  # type: ignore[no-untyped-def]
        self.locating = True  # the button's next event asks the browser (run_js: no eval)

    @public
    async def located(self, result: dict[str, Any]) -> None:
        self.locating = False
        if not isinstance(result, dict) or "error" in result:
            err = result.get("error", "unavailable") if isinstance(result, dict) else "unavailable"
            self.errors = {**self.errors, "location": _GEO_ERRORS.get(err, _GEO_ERRORS["unavailable"])}
            return
        await self._understand(LocationIn(lat=result["lat"], lng=result["lng"]))

    @public
    async def postcode_entered(self, value: str) -> None:
        value = (value or "").strip()
        if not value:
            return
        try:
            loc = LocationIn(plus_code=value) if "+" in value else LocationIn(postcode=value)
        except ValidationError:
            self.errors = {**self.errors, "location": "That postcode looks too long. Check it and try again."}
            return
        await self._understand(loc)

    async def _understand(self, loc: LocationIn) -> None:
        try:
            where = await asyncio.to_thread(resolve_location, get_core(), loc)
        except ValidationFailed as e:
            self.errors = {**self.errors, "location": e.errors.get("location", e.message)}
            self.lat = self.lng = None
            self.location_label = ""
            return
        self.lat, self.lng = where.lat, where.lng
        self.location_label = where.label
        self.location_approximate = where.approximate
        self.errors = {k: v for k, v in self.errors.items() if not k.startswith("location")}

    def _client_address(self) -> str:
        """The driver's address: X-Forwarded-For counts only when the socket's peer is a trusted proxy."""
        forwarded = self.router.headers.raw_headers.get("x-forwarded-for")
        return client_address(self.router.session.client_ip, forwarded, get_core().settings.trusted_proxies)

    @public
    def set_motorway(self, value: bool) -> None:
        self.on_motorway = value

    @public
    def set_vulnerable(self, value: bool) -> None:
        self.vulnerable = value

    @public
    async def submit(self, form: dict[str, Any]):  # type: ignore[no-untyped-def]
        if self.submitting:
            return
        self.submitting = True
        self.server_error = ""
        yield
        location: dict[str, Any] = {}
        if self.lat is not None:
            location = {"lat": self.lat, "lng": self.lng}
        elif (form.get("postcode") or "").strip():
            pc = form["postcode"].strip()
            location = {"plus_code": pc} if "+" in pc else {"postcode": pc}
        body = {
            "customer_name": form.get("customer_name", ""),
            "phone": form.get("phone", ""),
            "location": location,
            "vehicle": form.get("vehicle", ""),
            "vehicle_reg": form.get("vehicle_reg") or None,
            "issue": form.get("issue", ""),
            "vehicle_type": form.get("vehicle_type") or "car",
            "on_motorway": self.on_motorway,
            "vulnerable": self.vulnerable,
            "notes": form.get("notes", ""),
        }
        try:
            data = RequestCreate.model_validate(body)
            result = await asyncio.to_thread(submit_request, get_core(), data, self.form_key,
                                             self._client_address())
        except ValidationError as e:
            self.errors = field_errors(e)
        except ValidationFailed as e:
            # The form's own key reused with another body is not a field the driver can fix: start afresh.
            if IDEMPOTENCY_FIELD in e.errors:
                self.form_key = uuid.uuid4().hex
                self.server_error = "Your details changed since you last sent them. Press “Send for help” again."
            self.errors = {k: v for k, v in e.errors.items() if k != IDEMPOTENCY_FIELD}
        except (RateLimited, Conflict) as e:
            self.server_error = e.message
        except Unavailable:
            self.server_error = (
                f"We cannot take requests online right now. Please call us on {get_core().settings.support_phone} — "
                "we answer day and night."
            )
        else:
            self.errors = {}
            self.form_key = uuid.uuid4().hex
            self.submitting = False
            yield rx.redirect(routes.track(result.tracking_token))
            return
        self.submitting = False


def _field(label: str, control: rx.Component, error_key: str, hint: str = "") -> rx.Component:
    err = RequestFormState.errors.get(error_key, "")
    return rx.vstack(
        rx.el.label(label, html_for=error_key, style={"font_weight": "600"}),
        control,
        rx.cond(hint != "", rx.text(hint, size="2", color_scheme="gray")),
        rx.cond(err != "", rx.text(err, size="2", color_scheme="red", id=f"error-{error_key}", role="alert")),
        spacing="1",
        width="100%",
    )


def _input(name: str, **props: Any) -> rx.Component:
    return rx.input(name=name, id=name, size="3", width="100%", **props)


def _location_block() -> rx.Component:
    return rx.card(
        rx.vstack(
            rx.text("Where are you?", weight="bold", size="4"),
            rx.button(
                rx.icon("locate-fixed"),
                rx.cond(RequestFormState.locating, "Finding you…", "Use my location"),
                type="button",
                on_click=[RequestFormState.locate, run_js(GEOLOCATE_JS, callback=RequestFormState.located)],
                loading=RequestFormState.locating,
                color_scheme="blue",
                id="use-location",
                **styles.big_button,
            ),
            rx.text("or type a postcode or Plus Code", size="2", color_scheme="gray", align="center", width="100%"),
            _input("postcode", placeholder="e.g. RG1 1AA", auto_complete="postal-code", auto_capitalize="characters",
                   on_blur=RequestFormState.postcode_entered),
            rx.cond(
                RequestFormState.location_label != "",
                rx.vstack(
                    rx.hstack(rx.icon("map-pin", color="green"),
                              rx.text(RequestFormState.location_label, id="location-label", weight="medium")),
                    rx.cond(RequestFormState.location_approximate,
                            rx.text("Approximate — the technician will call you to find you exactly.", size="2",
                                    color_scheme="gray")),
                    rx.el.iframe(src=RequestFormState.map_src, title="Your location",
                                 style={"width": "100%", "height": "160px", "border": "0", "border_radius": "8px"}),
                    width="100%",
                    spacing="2",
                ),
            ),
            rx.cond(RequestFormState.location_error != "",
                    rx.text(RequestFormState.location_error, color_scheme="red", size="2", id="error-location",
                            role="alert")),
            spacing="3",
            width="100%",
        ),
        width="100%",
    )


def _form() -> rx.Component:
    return rx.form(
        rx.vstack(
            _location_block(),
            _field("Your name", _input("customer_name", auto_complete="name", max_length=100), "customer_name"),
            _field("Mobile number", _input("phone", type="tel", auto_complete="tel", input_mode="tel",
                                           placeholder="07… ", max_length=20), "phone",
                   "The technician calls this number. We text you the tracking link."),
            _field("What happened?", rx.el.select(
                *[rx.el.option(label, value=issue.value) for issue, label in ISSUE_LABELS.items()],
                name="issue", id="issue", default_value="puncture", class_name="th-select",
            ), "issue"),
            _field("Vehicle make and model", _input("vehicle", placeholder="e.g. Ford Focus", max_length=80),
                   "vehicle"),
            _field("Type of vehicle", rx.el.select(
                rx.el.option("Car", value="car"), rx.el.option("SUV / 4x4", value="suv_4x4"),
                rx.el.option("Van", value="van"), name="vehicle_type", id="vehicle_type", default_value="car",
                class_name="th-select",
            ), "vehicle_type"),
            _field("Registration (optional)", _input("vehicle_reg", auto_capitalize="characters", max_length=10,
                                                       placeholder="AB12 CDE"), "vehicle_reg"),
            rx.hstack(rx.checkbox(checked=RequestFormState.on_motorway, on_change=RequestFormState.set_motorway,
                                  size="3", id="on_motorway"),
                      rx.el.label("I'm on a motorway or hard shoulder", html_for="on_motorway"), align="center"),
            rx.cond(RequestFormState.on_motorway, rx.callout(
                "Leave the car by the door away from traffic, wait behind the barrier, "
                "and call 999 if you are in danger.",
                icon="triangle-alert", color_scheme="red", width="100%", id="motorway-safety")),
            rx.hstack(rx.checkbox(checked=RequestFormState.vulnerable, on_change=RequestFormState.set_vulnerable,
                                  size="3", id="vulnerable"),
                      rx.el.label("Children, elderly or vulnerable people are with me", html_for="vulnerable"),
                      align="center"),
            _field("Anything else? (optional)", rx.text_area(name="notes", id="notes", max_length=500, size="3",
                                                              width="100%"), "notes"),
            rx.cond(RequestFormState.server_error != "",
                    rx.callout(RequestFormState.server_error, icon="phone", color_scheme="red", width="100%")),
            rx.button(rx.icon("send"), "Send for help", type="submit", loading=RequestFormState.submitting,
                      disabled=RequestFormState.submitting, color_scheme=styles.ACCENT, id="submit",
                      **styles.big_button),
            spacing="4",
            width="100%",
        ),
        on_submit=RequestFormState.submit,
        reset_on_submit=False,
        width="100%",
        id="help-form",
    )


@layout
def request_form() -> rx.Component:
    return rx.vstack(
        rx.heading("Flat tyre? We come to you.", size="7"),
        rx.text("24/7 across Great Britain and Northern Ireland. A fitted van within 90 minutes.", size="3"),
        _form(),
        rx.text("Prefer to talk? Call ", rx.link("0800 123 4567", href="tel:08001234567"), " — any time.",
                size="2", color_scheme="gray"),
        spacing="4",
        width="100%",
        on_mount=RequestFormState.start,
    )
