"""Honest place, price and delay, in a real browser (issue 20): what the driver is told before and after sending,
and what the console and the technician are told about where the driver is."""

from __future__ import annotations

import re

import httpx

from tests.e2e.conftest import login, shot
from tests.factories import random_mobile

LERWICK_POSTCODE = "ZE1 0AA"  # Shetland: no van of the demo fleet within reach


def _form(page, url: str) -> None:
    page.goto(url)
    page.locator("#customer_name").wait_for(timeout=20000)
    page.wait_for_function("() => document.readyState === 'complete'")
    page.locator("#quote").wait_for(timeout=15000)  # the page's state is live: the quote came from the server


def _postcode(page, postcode: str) -> None:
    page.fill("#postcode", postcode)
    page.locator("#postcode").blur()
    page.locator("#location-label").wait_for(timeout=15000)


def _details(page, name: str, phone: str) -> None:
    page.fill("#customer_name", name)
    page.fill("#phone", phone)
    page.fill("#vehicle", "Vauxhall Corsa")


def _send(page) -> str:
    page.click("#submit")
    page.wait_for_url(re.compile(r".*/track/[A-Za-z0-9_-]{20,}$"), timeout=15000)
    page.locator("#reference").wait_for(timeout=10000)
    return page.url.rsplit("/", 1)[1]


def test_a_full_postcode_shows_its_postcode_and_approximate_everywhere(app, browser, phone_page) -> None:
    from core.geo.geocode import OfflineGeocoder

    where = OfflineGeocoder().geocode_postcode("SW1A 1AA")  # no internet here: the district fallback answers
    tech = app.make_technician("sian", at=(where.lat, where.lng), status="available")
    from tests.factories import add_staff

    add_staff(app.core, "uxdesk", "dispatcher")
    page = phone_page
    _form(page, app.url)
    _postcode(page, "sw1a 1aa")
    assert page.locator("#location-label").inner_text() == "SW1A 1AA area (approximate)", \
        "the label names the postcode, not the nearest village"
    assert page.locator("#location-approximate").is_visible(), "the form says the place is approximate"
    _details(page, "Alex Driver", random_mobile())
    token = _send(page)
    request_id, assigned = app.job_for(token)
    row = app.request_row(request_id)
    assert (row["location_approximate"], row["postcode"]) == (True, "SW1A 1AA"), "stored approximate, with postcode"
    assert assigned == tech, "the van at the postcode's point took the job"
    page.locator("#track-location", has_text="SW1A 1AA").wait_for(timeout=5000)
    assert page.locator("#track-approximate").is_visible(), "tracking shows the approximate flag"
    shot(page, "tracking-approximate")

    desk = browser.new_context(viewport={"width": 1440, "height": 900})
    phone = browser.new_context(viewport={"width": 390, "height": 844}, is_mobile=True)
    try:
        console = desk.new_page()
        console.goto(f"{app.url}/dispatch")
        console.locator("#username").wait_for(timeout=15000)
        login(console, app.url, "uxdesk")
        console.locator(f"#open-{row['reference']}").click(timeout=15000)
        console.locator("#drawer-postcode", has_text="SW1A 1AA").wait_for(timeout=5000)
        assert console.locator("#drawer-approximate").is_visible(), "the console's drawer shows the approximate flag"
        tech_page = phone.new_page()
        tech_page.goto(f"{app.url}/login?next=/tech")
        login(tech_page, app.url, "sian")
        tech_page.locator("#job-postcode", has_text="SW1A 1AA").wait_for(timeout=15000)
        assert tech_page.locator("#job-approximate").is_visible(), "the technician's job card shows approximate"
    finally:
        desk.close()
        phone.close()
        httpx.post(f"{app.url}/api/v1/requests/track/{token}/cancel", timeout=10)


def test_a_pin_dragged_on_the_form_map_makes_the_request_exact(app, phone_page) -> None:
    page = phone_page
    _form(page, app.url)
    _postcode(page, "M1 1AE")
    frame = page.frame_locator("iframe[title='Your location']")
    frame.locator(".leaflet-marker-icon").wait_for(timeout=10000)
    frame.locator(".leaflet-container").click(position={"x": 60, "y": 60})  # a tap moves the pin there
    page.locator("#location-label", has_text="Pin near M1 1AE").wait_for(timeout=5000)
    page.wait_for_timeout(1500)  # a redrawn map would have put the pin back in the middle by now
    box = page.locator("iframe[title='Your location']").bounding_box()
    pin = frame.locator(".leaflet-marker-icon").bounding_box()
    tip_x, tip_y = pin["x"] + pin["width"] / 2 - box["x"], pin["y"] + pin["height"] - box["y"]
    assert abs(tip_x - 60) < 8 and abs(tip_y - 60) < 8, f"the pin stays where it was put: {tip_x:.0f},{tip_y:.0f}"
    _details(page, "Pat Pin", random_mobile())
    token = _send(page)
    row = app.request_row(app.job_for(token)[0])
    assert row["location_approximate"] is False, "a placed pin is the driver's exact spot"
    assert row["postcode"] == "M1 1AE", "the typed postcode travels with the pin"
    httpx.post(f"{app.url}/api/v1/requests/track/{token}/cancel", timeout=10)


def test_the_quote_shown_before_sending_is_the_stored_quote(app, phone_page) -> None:
    page = phone_page
    _form(page, app.url)
    _postcode(page, "RG1 1AA")
    page.select_option("#issue", "damaged_wheel")
    page.select_option("#vehicle_type", "van")
    page.locator("#on_motorway").click()
    before = page.locator("#quote").inner_text()
    page.wait_for_timeout(1000)  # each change re-prices: let the last answer arrive
    shown = page.locator("#quote").inner_text()
    _details(page, "Quinn Quote", random_mobile())
    token = _send(page)
    stored = app.request_row(app.job_for(token)[0])["quote_pence"]
    expected = f"£{stored // 100}" if stored % 100 == 0 else f"£{stored / 100:.2f}"
    assert shown == expected, f"shown {shown} (first {before}) must equal the stored {stored}p"
    assert page.locator("#price").inner_text() == f"£{stored / 100:,.2f}", "tracking shows the same price"
    httpx.post(f"{app.url}/api/v1/requests/track/{token}/cancel", timeout=10)


def test_a_location_beyond_the_sla_is_warned_before_sending_with_a_call_back(app, phone_page) -> None:
    page = phone_page
    _form(page, app.url)
    _postcode(page, LERWICK_POSTCODE)
    warning = page.locator("#sla-warning")
    warning.wait_for(timeout=10000)
    assert "90-minute promise" in warning.inner_text(), "the warning names the promise"
    assert page.locator("#call-back").get_attribute("href").startswith("tel:"), "the call-back offer is a tel: link"
    shot(page, "request-form-beyond-sla")
    _details(page, "Lena Far", random_mobile())
    token = _send(page)
    page.locator("#no-van").wait_for(timeout=5000)
    assert app.request_row(app.job_for(token)[0])["status"] == "pending", "no van hours away is sent by itself"
    shot(page, "tracking-no-van-in-reach")
    httpx.post(f"{app.url}/api/v1/requests/track/{token}/cancel", timeout=10)


def test_a_form_error_is_focused_tied_to_its_field_and_cleared_when_fixed(app, phone_page) -> None:
    page = phone_page
    _form(page, app.url)
    _postcode(page, "RG1 1AA")
    page.fill("#phone", random_mobile())
    page.fill("#vehicle", "Ford Focus")
    page.click("#submit")
    error = page.locator("#error-customer_name")
    error.wait_for(timeout=5000)
    assert "String should" not in error.inner_text() and error.inner_text().startswith("Tell us your name"), \
        "the message is in plain words"
    page.wait_for_function("() => document.activeElement && document.activeElement.id === 'customer_name'",
                           timeout=5000)
    field = page.locator("#customer_name")
    assert field.get_attribute("aria-invalid") == "true", "the field is marked invalid"
    assert field.get_attribute("aria-describedby") == "error-customer_name", "the field names its error"
    assert page.input_value("#vehicle") == "Ford Focus", "what was typed is kept"
    shot(page, "request-form-error-focused")
    field.fill("Robin Fixed")
    field.blur()
    error.wait_for(state="detached", timeout=5000)
    assert field.get_attribute("aria-invalid") == "false", "the fixed field is no longer invalid"


def test_tracking_gives_clock_time_call_buttons_labelled_map_and_a_receipt(app, phone_page) -> None:
    from core.phones import normalise_uk_mobile
    from core.principal import Principal, Role
    from core.staff import admin
    from core.technicians.jobs import job_action
    from tests.factories import add_principal

    tech = app.make_technician("tomos", at=(51.48, -3.18), status="available")
    mobile = normalise_uk_mobile(random_mobile())
    admin.update_technician(app.core, add_principal(app.core, Role.ADMIN), tech,
                            admin.TechnicianIn(name="Tomos Tester", van_reg="TT00 ABC", phone=mobile))
    made = httpx.post(f"{app.url}/api/v1/requests", json={
        "customer_name": "Cerys", "phone": random_mobile(), "location": {"lat": 51.4816, "lng": -3.1791},
        "vehicle": "Kia Ceed", "issue": "puncture"}).json()
    page = phone_page
    page.goto(f"{app.url}/track/{made['tracking_token']}")
    page.locator("#arrive-by").wait_for(timeout=15000)
    assert re.fullmatch(r"\d\d:\d\d", page.locator("#arrive-by").inner_text()), "arrival as a clock time"
    assert page.locator("#call-tyrehero").get_attribute("href").startswith("tel:"), "TyreHero is a tel: link"
    call = page.locator("#call-technician")
    assert call.get_attribute("href") == f"tel:{mobile}", "the technician's button dials the technician's mobile"
    assert call.inner_text().strip() == "Call Tomos", call.inner_text()
    request_id = made["id"]
    app.job_action(tech, request_id, "en-route")
    page.locator("#status", has_text="on the way").wait_for(timeout=5000)
    assert page.locator("#call-technician").get_attribute("href") == f"tel:{mobile}", "and still once on the way"
    frame = page.frame_locator("iframe[title='Live map']")
    frame.locator(".th-label-customer", has_text="You").wait_for(timeout=10000)
    van_label = frame.locator(".th-label-van").inner_text(timeout=10000)
    assert "Tomos" in van_label and re.search(r"[A-Z]{2}\d\d", van_label), f"van named, with its plate: {van_label}"
    frame.locator("path[stroke-dasharray]").first.wait_for(timeout=5000)  # the route line
    shot(page, "tracking-en-route")
    app.job_action(tech, request_id, "arrived")
    job_action(app.core, Principal.system("e2e test"), request_id, "complete", {"fitted": "1 x 205/55 R16"},
               tech_id=tech)
    page.locator("#receipt").wait_for(timeout=5000)
    assert page.locator("#fitted").inner_text() == "1 x 205/55 R16", "the receipt says what was fitted"
    assert page.locator("#price").inner_text().startswith("£"), "and the price"
    assert page.locator("#call-technician").count() == 0, "no technician's number once the job is closed"
    assert mobile not in page.content() and mobile[3:] not in page.content(), "the number is gone from the page"
    shot(page, "tracking-receipt")


def test_a_cancelled_request_ends_clearly(app, phone_page) -> None:
    made = httpx.post(f"{app.url}/api/v1/requests", json={
        "customer_name": "Cai", "phone": random_mobile(), "location": {"lat": 53.48, "lng": -2.24},
        "vehicle": "Kia Ceed", "issue": "puncture"}).json()
    page = phone_page
    page.goto(f"{app.url}/track/{made['tracking_token']}")
    page.click("#cancel", timeout=15000)
    page.click("#confirm-cancel")
    page.locator("#cancelled").wait_for(timeout=5000)
    assert "No van is coming" in page.locator("#cancelled").inner_text(), "the end state says what it means"
    assert page.locator("#ask-again").is_visible(), "and offers to ask again"
    shot(page, "tracking-cancelled")
