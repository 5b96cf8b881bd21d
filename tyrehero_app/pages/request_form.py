"""`/`: ask for help in under a minute, one-handed, on a phone."""

from __future__ import annotations

import asyncio
import re
import uuid
from typing import Any

import reflex as rx
from pydantic import ValidationError

from core.config import get_settings
from core.errors import Conflict, Unavailable, ValidationFailed
from core.infra.addresses import client_address
from core.infra.ratelimit import RateLimited
from core.notify.promises import FORM_PROMISE
from core.phones import normalise_uk_mobile
from core.requests.intake import IDEMPOTENCY_FIELD, resolve_location, submit_request
from core.requests.messages import driver_errors, first_in_error
from core.requests.promise import count_lookup, promise, quote
from core.schemas import ISSUE_LABELS, Issue, LocationIn, RequestCreate, VehicleType, clean_text
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


_REG = re.compile(r"^[A-Z0-9 ]{2,8}$")


def _tel(phone: str) -> str:
    return "tel:" + re.sub(r"[^0-9+]", "", phone)


def _pounds(pence: int) -> str:
    return f"£{pence / 100:,.0f}" if pence % 100 == 0 else f"£{pence / 100:,.2f}"


def _field_ok(name: str, value: str) -> bool:
    """Whether a corrected field would now pass (its error can go); the full check runs on sending."""
    value = clean_text(value or "")
    if name in ("customer_name", "vehicle"):
        return bool(value)
    if name == "phone":
        try:
            normalise_uk_mobile(value)
        except ValidationFailed:
            return False
        return True
    if name == "vehicle_reg":
        return not value or bool(_REG.match(value.upper()))
    if name == "notes":
        return len(value) <= 500
    return False


class RequestFormState(Declared, rx.State):
    """What the form shows: the understood location (and the pin), the live price and ETA, per-field errors."""

    lat: float | None = None  # the point the request is sent with: GPS, the postcode's point, or the pin
    lng: float | None = None
    map_lat: float | None = None  # where the map was drawn (moving the pin does not redraw it)
    map_lng: float | None = None
    map_approximate: bool = False
    source: str = ""  # gps | postcode | plus_code | pin
    typed: str = ""  # the postcode or Plus Code as typed
    postcode: str = ""  # the typed postcode, normalised ("SW1A 1AA"): sent with a pin
    location_label: str = ""
    location_approximate: bool = False
    locating: bool = False
    issue: str = Issue.PUNCTURE.value
    vehicle_type: str = VehicleType.CAR.value
    on_motorway: bool = False
    vulnerable: bool = False
    quote_pence: int = 0
    eta_minutes: int = -1  # the best free van's ETA; -1 unknown or none
    eta_state: str = ""  # "" (no location yet) | ok | late (beyond the SLA) | none (no van within reach)
    sla_minutes: int = 90
    errors: dict[str, str] = {}
    server_error: str = ""
    submitting: bool = False
    form_key: str = ""

    @public
    async def start(self) -> None:
        if not self.form_key:
            self.form_key = uuid.uuid4().hex
        # A reload empties the fields: errors about what they held would mislead (the place is kept).
        self.errors, self.server_error, self.submitting = {}, "", False
        await self._reprice()

    @rx.var
    def map_src(self) -> str:
        if self.map_lat is None:
            return ""
        flag = "&approximate=true" if self.map_approximate else ""
        return f"/map/point?lat={self.map_lat}&lng={self.map_lng}{flag}"

    @rx.var
    def quote(self) -> str:
        return _pounds(self.quote_pence) if self.quote_pence else ""

    @rx.var
    def location_error(self) -> str:
        return self.errors.get("location", "")

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
        try:
            loc = LocationIn(lat=result.get("lat"), lng=result.get("lng"))
        except ValidationError:
            self.errors = {**self.errors, "location": _GEO_ERRORS["unavailable"]}
            return
        if await self._understand(loc, "gps"):
            self._draw_map()

    @public
    async def postcode_entered(self, value: str) -> None:
        value = (value or "").strip() if isinstance(value, str) else ""
        if not value or (value == self.typed and self.lat is not None):
            return
        try:
            loc = LocationIn(plus_code=value) if "+" in value else LocationIn(postcode=value)
        except ValidationError:
            self.errors = {**self.errors, "location": "That postcode looks too long. Check it and try again."}
            return
        if await self._understand(loc, "plus_code" if "+" in value else "postcode"):
            self.typed = value
            self._draw_map()

    @public
    async def pin_moved(self, value: str) -> None:
        """The driver moved the pin on the form's map: "lat,lng" (written by the map page)."""
        try:
            lat, lng = (float(x) for x in str(value).split(","))
            loc = LocationIn(lat=lat, lng=lng, postcode=self.postcode or None)
        except (ValueError, ValidationError):
            return
        await self._understand(loc, "pin")

    def _draw_map(self) -> None:
        """Centre the form's map on the understood point (a pin moved later does not redraw it)."""
        self.map_lat, self.map_lng, self.map_approximate = self.lat, self.lng, self.location_approximate

    def _lookup_allowed(self) -> bool:
        """Count one look-up for this connection; past the limit, say so beside the location and look nothing up."""
        try:
            count_lookup(get_core(), self._client_address())
        except RateLimited as e:
            self.errors = {**self.errors, "location": e.message}
            return False
        return True

    async def _understand(self, loc: LocationIn, source: str) -> bool:
        if not self._lookup_allowed():
            return False
        try:
            where = await asyncio.to_thread(resolve_location, get_core(), loc)
        except ValidationFailed as e:
            msg = next((m for k, m in e.errors.items() if k.startswith("location")), e.message)
            self.errors = {**self.errors, "location": msg}
            if source != "pin":
                self.lat = self.lng = self.map_lat = self.map_lng = None
                self.location_label, self.source, self.postcode = "", "", ""
            return False
        self.lat, self.lng = where.lat, where.lng
        self.location_label = where.label
        self.location_approximate = where.approximate
        self.source = source
        if source != "pin":
            self.postcode = where.postcode or ""
        self.errors = {k: v for k, v in self.errors.items() if k != "location"}
        await self._reprice(counted=True)
        return True

    async def _reprice(self, counted: bool = False) -> None:
        """The live quote, and the best van's ETA once the location is known (the same code intake uses).
        Past the look-up limit the last price stays; sending still prices the request."""
        if not counted and not self._lookup_allowed():
            return
        issue, vtype = Issue(self.issue), VehicleType(self.vehicle_type)
        core = get_core()
        self.sla_minutes = core.settings.sla_minutes
        try:
            if self.lat is None or self.lng is None:
                self.quote_pence = await asyncio.to_thread(quote, core, issue, vtype, self.on_motorway)
                self.eta_minutes, self.eta_state = -1, ""
                return
            p = await asyncio.to_thread(promise, core, self.lat, self.lng, issue, vtype, self.on_motorway)
        except Unavailable:
            return  # the price shows again with the next change; sending still prices it
        self.quote_pence = p.quote_pence
        self.eta_minutes = p.eta_minutes if p.eta_minutes is not None else -1
        self.eta_state = "ok" if p.within_sla else "late" if p.in_reach else "none"

    def _client_address(self) -> str:
        """The driver's address: X-Forwarded-For counts only when the socket's peer is a trusted proxy."""
        forwarded = self.router.headers.raw_headers.get("x-forwarded-for")
        return client_address(self.router.session.client_ip, forwarded, get_core().settings.trusted_proxies)

    @public
    async def set_issue(self, value: str) -> None:
        if value in Issue.__members__.values():
            self.issue = value
            await self._reprice()

    @public
    async def set_vehicle_type(self, value: str) -> None:
        if value in VehicleType.__members__.values():
            self.vehicle_type = value
            await self._reprice()

    @public
    async def set_motorway(self, value: bool) -> None:
        self.on_motorway = bool(value)
        await self._reprice()

    @public
    def set_vulnerable(self, value: bool) -> None:
        self.vulnerable = bool(value)

    @public
    def field_left(self, name: str, value: str) -> None:
        """A field in error was changed: its error goes once the value would pass."""
        if isinstance(name, str) and name in self.errors and isinstance(value, str) and _field_ok(name, value):
            self.errors = {k: v for k, v in self.errors.items() if k != name}

    def _location_body(self, form: dict[str, Any]) -> dict[str, Any]:
        if self.lat is not None and self.source in ("gps", "pin"):
            pin = {"postcode": self.postcode} if self.source == "pin" and self.postcode else {}
            return {"lat": self.lat, "lng": self.lng, **pin}
        typed = str(form.get("postcode") or self.typed or "").strip()
        if typed:
            return {"plus_code": typed} if "+" in typed else {"postcode": typed}
        return {}

    @public
    async def submit(self, form: dict[str, Any]):  # type: ignore[no-untyped-def]
        if self.submitting or not isinstance(form, dict):
            return
        self.submitting = True
        self.server_error = ""
        yield
        body = {
            "customer_name": form.get("customer_name", ""),
            "phone": form.get("phone", ""),
            "location": self._location_body(form),
            "vehicle": form.get("vehicle", ""),
            "vehicle_reg": form.get("vehicle_reg") or None,
            "issue": form.get("issue") or self.issue,
            "vehicle_type": form.get("vehicle_type") or self.vehicle_type,
            "on_motorway": self.on_motorway,
            "vulnerable": self.vulnerable,
            "notes": form.get("notes", ""),
        }
        try:
            data = RequestCreate.model_validate(body)
            result = await asyncio.to_thread(submit_request, get_core(), data, self.form_key,
                                             self._client_address())
        except ValidationError as e:
            self.errors = driver_errors(e)
        except ValidationFailed as e:
            # The form's own key reused with another body is not a field the driver can fix: start afresh.
            if IDEMPOTENCY_FIELD in e.errors:
                self.form_key = uuid.uuid4().hex
                self.server_error = "Your details changed since you last sent them. Press “Send for help” again."
            self.errors = {("location" if k.startswith("location") else k): v
                           for k, v in e.errors.items() if k != IDEMPOTENCY_FIELD}
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
        first = first_in_error(self.errors)
        if first:
            # Focusing the field scrolls it into view; the location's own field is the postcode box.
            yield rx.set_focus("postcode" if first == "location" else first)


def _aria(key: str) -> dict[str, Any]:
    """Ties a control to its error: aria-invalid, and aria-describedby naming the message."""
    err = RequestFormState.errors.get(key, "")
    return {"aria-invalid": rx.cond(err != "", "true", "false"),
            "aria-describedby": rx.cond(err != "", f"error-{key}", "")}


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
    return rx.input(name=name, id=name, size="3", width="100%", custom_attrs=_aria(name),
                    on_blur=lambda v: RequestFormState.field_left(name, v), **props)


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
            rx.el.label("or type a postcode or Plus Code", html_for="postcode", style={"text_align": "center",
                                                                                       "width": "100%"}),
            rx.input(name="postcode", id="postcode", size="3", width="100%", placeholder="e.g. RG1 1AA",
                     auto_complete="postal-code", auto_capitalize="characters", custom_attrs=_aria("location"),
                     on_blur=RequestFormState.postcode_entered),
            # Written by the map page when the pin moves (see tyrehero_app/api/customer_maps.py).
            rx.el.input(id="pin", type="text", tab_index=-1, custom_attrs={"aria-hidden": "true"}, auto_complete="off",
                        on_change=RequestFormState.pin_moved, style={"display": "none"}),
            rx.cond(
                RequestFormState.location_label != "",
                rx.vstack(
                    rx.hstack(rx.icon("map-pin", color="green"),
                              rx.text(RequestFormState.location_label, id="location-label", weight="medium")),
                    rx.cond(RequestFormState.location_approximate,
                            rx.text("Approximate: drag the pin to where you are, or the technician will call you "
                                    "to find you.", size="2", id="location-approximate")),
                    rx.el.iframe(src=RequestFormState.map_src, title="Your location",
                                 style={"width": "100%", "height": "220px", "border": "0", "border_radius": "8px"}),
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


def _promise_block() -> rx.Component:
    """The price and the honest ETA, right above "Send for help"."""
    call = rx.link(rx.button(rx.icon("phone"), "Call us — we'll ring you back", size="3", variant="outline",
                             width="100%", min_height="48px"), href=_tel(get_settings().support_phone), width="100%",
                   id="call-back")
    return rx.vstack(
        rx.cond(RequestFormState.quote != "",
                rx.text("Price: ", rx.text.strong(RequestFormState.quote, id="quote"),
                        " all in — call-out and the fitting. You pay the technician by card.", id="quote-line")),
        rx.match(
            RequestFormState.eta_state,
            ("ok", rx.text("A van can be with you in about ", rx.text.strong(RequestFormState.eta_minutes), " min.",
                           id="eta-promise")),
            ("late", rx.callout(rx.vstack(
                rx.text("Our nearest free van is about ", rx.text.strong(RequestFormState.eta_minutes),
                        " min away — longer than our ", RequestFormState.sla_minutes, "-minute promise. "
                        "You can still send, or call us and we'll find the fastest help.", id="sla-warning"),
                call, width="100%"), icon="clock", color_scheme="orange", width="100%")),
            ("none", rx.callout(rx.vstack(
                rx.text("No van can reach you within our ", RequestFormState.sla_minutes, "-minute promise right "
                        "now. If you send, a dispatcher looks for help by hand; or call us now.", id="sla-warning"),
                call, width="100%"), icon="clock", color_scheme="red", width="100%")),
            rx.fragment(),
        ),
        spacing="2",
        width="100%",
        role="status",
        aria_live="polite",
    )


def _select(name: str, options: list[tuple[str, str]], on_change: Any, default: str) -> rx.Component:
    return rx.el.select(*[rx.el.option(label, value=value) for value, label in options], name=name, id=name,
                        default_value=default, class_name="th-select", on_change=on_change,
                        custom_attrs=_aria(name))


def _form() -> rx.Component:
    return rx.form(
        rx.vstack(
            _location_block(),
            _field("Your name", _input("customer_name", auto_complete="name", max_length=100), "customer_name"),
            _field("Mobile number", _input("phone", type="tel", auto_complete="tel", input_mode="tel",
                                           placeholder="07… ", max_length=20), "phone",
                   "The technician calls this number if they need to find you. " + FORM_PROMISE),
            _field("What happened?", _select("issue", [(i.value, label) for i, label in ISSUE_LABELS.items()],
                                             RequestFormState.set_issue, Issue.PUNCTURE.value), "issue"),
            _field("Vehicle make and model", _input("vehicle", placeholder="e.g. Ford Focus", max_length=80),
                   "vehicle"),
            _field("Type of vehicle", _select("vehicle_type", [("car", "Car"), ("suv_4x4", "SUV / 4x4"),
                                                               ("van", "Van")],
                                              RequestFormState.set_vehicle_type, VehicleType.CAR.value),
                   "vehicle_type"),
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
                                                              width="100%", custom_attrs=_aria("notes")), "notes"),
            rx.cond(RequestFormState.server_error != "",
                    rx.callout(RequestFormState.server_error, icon="phone", color_scheme="red", width="100%")),
            _promise_block(),
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


def _call_us() -> rx.Component:
    """The phone line, first on the page: a tel: link works before the page's scripts arrive on a slow network."""
    phone = get_settings().support_phone
    return rx.link(rx.button(rx.icon("phone"), f"Prefer to talk? Call {phone}", size="3", variant="soft",
                             color_scheme="gray", width="100%", min_height="48px"),
                   href=_tel(phone), width="100%", id="call-us")


@layout
def request_form() -> rx.Component:
    return rx.vstack(
        rx.heading("Flat tyre? We come to you.", size="7", as_="h1"),
        rx.text("24/7 across Great Britain and Northern Ireland. We aim to be with you within 90 minutes.",
                size="3"),
        _call_us(),
        _form(),
        spacing="4",
        width="100%",
        on_mount=RequestFormState.start,
    )
