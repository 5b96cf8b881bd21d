"""A pushed job offer on the technician's phone: the /tech page's service worker gets the push (delivered through
the DevTools protocol, as headless Chromium cannot reach a real push service), shows the notification and makes
the open page show the offer.

The server's side (pywebpush, VAPID, encryption) is tested against a push service on localhost in
tests/integration/notify/test_push.py; this is the browser's side of the same payload."""

from __future__ import annotations

import time

from core.notify.push import offer_payload
from core.requests.intake import submit_request
from core.schemas import RequestCreate
from tests.e2e.conftest import login, shot
from tests.factories import request_body

LERWICK = (60.1546, -1.1494)  # far from the demo fleet: the offer is this technician's


def _wait(cond, timeout: float, what: str):  # type: ignore[no-untyped-def]
    deadline = time.time() + timeout
    while time.time() < deadline:
        got = cond()
        if got:
            return got
        time.sleep(0.2)
    raise AssertionError(f"timed out waiting for {what}")


def test_a_pushed_offer_shows_a_notification_and_opens_on_the_page(app, browser) -> None:
    tid = app.make_technician("morven", at=LERWICK, status="available")
    ctx = browser.new_context(viewport={"width": 390, "height": 844}, is_mobile=True, has_touch=True)
    ctx.grant_permissions(["notifications"], origin=app.url)
    try:
        page = ctx.new_page()
        cdp = ctx.new_cdp_session(page)
        registrations: dict[str, dict] = {}

        def updated(event: dict) -> None:
            for reg in event["registrations"]:
                registrations[reg["registrationId"]] = reg

        cdp.on("ServiceWorker.workerRegistrationUpdated", updated)
        cdp.send("ServiceWorker.enable")
        page.goto(f"{app.url}/login?next=/tech")
        login(page, app.url, "morven")
        page.locator("#tech-status").wait_for(timeout=20000)
        # The page registers its worker by itself.
        scope = page.evaluate("navigator.serviceWorker.ready.then((r) => r.scope)")
        assert scope == f"{app.url}/", scope
        status = page.locator("#alerts-status")
        _wait(lambda: "Offer alerts are off" in status.inner_text(), 10, "the alerts' state")
        # Headless Chromium has no push service: turning alerts on fails, and the page says what happens instead.
        page.click("#alerts-on")
        _wait(lambda: "Offers will come by text instead" in status.inner_text(), 15, "the refusal in plain words")
        shot(page, "technician-offer-alerts")
        reg_id = _wait(lambda: next((i for i, r in registrations.items()
                                     if r["scopeURL"] == f"{app.url}/" and not r["isDeleted"]), None), 10,
                       "the worker's registration over CDP")

        made = submit_request(app.core, RequestCreate.model_validate(
            request_body(location={"lat": LERWICK[0], "lng": LERWICK[1]})))
        request_id, technician = app.job_for(made.tracking_token)
        assert technician == tid, "the offer is this technician's"
        cdp.send("ServiceWorker.deliverPushMessage", {
            "origin": app.url, "registrationId": reg_id,
            "data": offer_payload(made.reference, request_id, f"TyreHero job offer {made.reference}: puncture")})

        # The worker told the open page, which refreshed: the offer is on screen, ready to accept.
        _wait(lambda: page.evaluate("window.thAlerts.lastOffer") == made.reference, 10, "the worker's message")
        page.locator("#accept").wait_for(timeout=5000)
        assert made.reference in page.locator("#job").inner_text()
        notes = page.evaluate("navigator.serviceWorker.ready.then((r) => r.getNotifications())"
                              ".then((ns) => ns.map((n) => ({title: n.title, tag: n.tag, body: n.body,"
                              " sticky: n.requireInteraction, url: n.data && n.data.url})))")
        shown = {"title": f"Job offer {made.reference}", "tag": made.reference,
                 "body": f"TyreHero job offer {made.reference}: puncture", "sticky": True, "url": "/tech"}
        assert shown in notes, notes
        shot(page, "technician-pushed-offer")
    finally:
        ctx.close()
