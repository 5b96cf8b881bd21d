"""A driver asks for help on a phone and follows the van; a second one cancels."""

from __future__ import annotations

import re

import httpx

from core.notify.outbox import read_messages
from core.notify.promises import FORM_PROMISE, PROMISED_TEXTS, TRACKING_PROMISE
from tests.e2e.conftest import shot

STEP_TIMEOUT_MS = 2000  # each status change must show without reload within 2 s


def _fill_form(page, url: str, *, name: str, phone: str, postcode: str | None) -> None:
    page.goto(url)
    page.locator("#customer_name").wait_for(timeout=20000)
    page.wait_for_function("() => !!window.__reflex || document.readyState === 'complete'")
    if postcode:
        page.fill("#postcode", postcode)
        page.locator("#postcode").blur()
        page.locator("#location-label").wait_for(timeout=10000)
    page.fill("#customer_name", name)
    page.fill("#phone", phone)
    page.fill("#vehicle", "Vauxhall Corsa")
    page.select_option("#issue", "blowout")




def test_request_by_postcode_then_follow_each_step(app, phone_page) -> None:
    page = phone_page
    _fill_form(page, app.url, name="Alex Driver", phone="07911 123456", postcode="RG1 1AA")
    assert page.locator("#location-label").inner_text() == "RG1 1AA area (approximate)"
    assert FORM_PROMISE in page.locator("#help-form").inner_text(), "the form says what we text"
    shot(page, "request-form")
    page.click("#submit")
    page.wait_for_url(re.compile(r".*/track/[A-Za-z0-9_-]{20,}$"), timeout=15000)
    page.locator("#reference").wait_for(timeout=10000)
    assert page.locator("#reference").inner_text().startswith("TH-")
    reference = page.locator("#reference").inner_text()
    assert page.locator("#texts-promise").inner_text() == TRACKING_PROMISE
    assert page.locator("#price").inner_text().startswith("£")
    token = page.url.rsplit("/", 1)[1]
    view = httpx.get(f"{app.url}/api/v1/requests/track/{token}").json()
    assert view["status"] == "assigned", view
    page.locator("#eta").wait_for(timeout=5000)
    assert int(page.locator("#eta").inner_text()) > 0
    page.frame_locator("iframe[title='Live map']").locator("path.leaflet-interactive").first.wait_for(timeout=10000)
    shot(page, "tracking")

    rid, tid = app.job_for(token)
    for action, words in (("en-route", "on the way"), ("arrived", "technician with you"), ("complete", "completed")):
        app.job_action(tid, rid, action)
        page.locator("#status", has_text=words).wait_for(timeout=STEP_TIMEOUT_MS + 500)
    texts = page.locator(".timeline-entry").all_inner_texts()
    assert texts[0] == "Job completed", f"texts[0] is {texts[0]!r}, wanted 'Job completed'"
    assert "Technician arrived" in texts, "'Technician arrived' missing from texts"
    assert "Request received" in texts, "'Request received' missing from texts"
    assert token not in app.log.read_text()  # the token never reaches the logs
    sent = [m.template for m in read_messages(app.core, 50) if m.reference == reference]
    assert [t for t, _ in PROMISED_TEXTS if t in sent] == [t for t, _ in PROMISED_TEXTS if t != "arriving"], (
        f"the texts the pages promised went out: {sent}")  # no position came near, so no "arriving"


def test_cancel_a_second_request(app, phone_page) -> None:
    made = httpx.post(f"{app.url}/api/v1/requests", json={
        "customer_name": "Kim", "phone": "07400 123456", "location": {"lat": 53.48, "lng": -2.24},
        "vehicle": "Kia Ceed", "issue": "puncture"}).json()
    page = phone_page
    page.goto(f"{app.url}/track/{made['tracking_token']}")
    page.click("#cancel")
    page.click("#confirm-cancel")
    page.locator("#status", has_text="cancelled").wait_for(timeout=5000)
    assert page.locator("#cancel").count() == 0
    assert httpx.get(f"{app.url}/api/v1/requests/track/{made['tracking_token']}").json()["status"] == "cancelled"


def test_invalid_phone_and_no_location_show_inline_and_store_nothing(app, phone_page) -> None:
    before = app.count_requests()
    page = phone_page
    _fill_form(page, app.url, name="Pat", phone="12345", postcode=None)
    page.click("#submit")
    page.locator("#error-phone").wait_for(timeout=5000)
    page.locator("#error-location").wait_for(timeout=5000)
    assert "UK mobile" in page.locator("#error-phone").inner_text()
    assert page.input_value("#customer_name") == "Pat"  # what was typed is kept
    shot(page, "request-form-errors")
    assert app.count_requests() == before


def test_unknown_token_shows_a_friendly_page(app, phone_page) -> None:
    phone_page.goto(f"{app.url}/track/NotARealToken123")
    phone_page.locator("#not-found").wait_for(timeout=10000)
    assert "couldn't find" in phone_page.locator("#not-found").inner_text()
