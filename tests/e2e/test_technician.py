"""A technician on a phone: log in, go on shift, share position, run a job; decline and timeout."""

from __future__ import annotations

import time

import httpx

from tests.e2e.conftest import login, shot

INVERNESS = (57.4778, -4.2247)
FORT_WILLIAM = (56.8198, -5.1052)


def _phone(browser, at: tuple[float, float]):  # type: ignore[no-untyped-def]
    ctx = browser.new_context(viewport={"width": 390, "height": 844}, is_mobile=True, has_touch=True,
                              geolocation={"latitude": at[0], "longitude": at[1], "accuracy": 8},
                              permissions=["geolocation"])
    return ctx, ctx.new_page()


def _ask(app, at: tuple[float, float], phone: str) -> dict:
    r = httpx.post(f"{app.url}/api/v1/requests", json={
        "customer_name": "Morag Driver", "phone": phone, "location": {"lat": at[0], "lng": at[1]},
        "vehicle": "Skoda Octavia", "issue": "puncture", "on_motorway": True})
    assert r.status_code == 201, r.text
    return r.json()


def _wait(cond, timeout: float = 10.0, what: str = "condition"):  # type: ignore[no-untyped-def]
    deadline = time.time() + timeout
    while time.time() < deadline:
        got = cond()
        if got:
            return got
        time.sleep(0.25)
    raise AssertionError(f"timed out waiting for {what}")


def test_shift_position_and_a_whole_job(app, browser) -> None:
    tid = app.make_technician("rhona", at=(57.40, -4.30), status="offline")
    ctx, page = _phone(browser, INVERNESS)
    try:
        page.goto(f"{app.url}/tech")
        page.locator("#username").wait_for(timeout=15000)
        assert "/login?next=/tech" in page.url
        login(page, app.url, "rhona")
        page.locator("#start-shift").click(timeout=15000)
        page.locator("#tech-status", has_text="Available").wait_for(timeout=5000)
        # The phone's position reaches the server by itself.
        _wait(lambda: abs(app.technician_row(tid)["lat"] - INVERNESS[0]) < 1e-4, 15, "the first position")
        made = _ask(app, INVERNESS, "07911 222333")
        page.locator("#accept").wait_for(timeout=5000)  # the offer appears without reload
        assert "Morag" in page.locator("#job-customer").inner_text()
        assert "google.com/maps/dir" in page.locator("#navigate").get_attribute("href")
        assert page.locator("#call").get_attribute("href").startswith("tel:+447")
        shot(page, "technician-offer")
        track = f"{app.url}/api/v1/requests/track/{made['tracking_token']}"
        page.click("#accept")
        page.locator("#en-route").click(timeout=5000)
        _wait(lambda: httpx.get(track).json()["status"] == "en_route", 5, "en route on the tracking view")
        page.locator("#arrived").click(timeout=5000)
        _wait(lambda: httpx.get(track).json()["status"] == "on_site", 5, "on site")
        page.fill("#fitted", "1 x 205/55 R16")
        page.click("#complete")
        _wait(lambda: httpx.get(track).json()["status"] == "completed", 5, "completed")
        page.locator("#tech-status", has_text="Available").wait_for(timeout=5000)
        kinds = [e["kind"] for e in httpx.get(track).json()["timeline"]]
        assert kinds == ["created", "assigned", "accepted", "en_route", "on_site", "completed"]
    finally:
        ctx.close()


def test_decline_and_timeout_go_to_the_next_nearest(app, browser) -> None:
    near = app.make_technician("angus", at=FORT_WILLIAM, status="available")
    other = app.make_technician("isla", at=(FORT_WILLIAM[0] + 0.01, FORT_WILLIAM[1]), status="available")
    ctx, page = _phone(browser, FORT_WILLIAM)
    try:
        page.goto(f"{app.url}/login?next=/tech")
        login(page, app.url, "angus")
        first = _ask(app, FORT_WILLIAM, "07812 111222")
        assert app.request_row(first["id"])["technician_id"] == near
        page.locator("#decline").click(timeout=10000)
        _wait(lambda: app.request_row(first["id"])["technician_id"] == other, 5, "reassignment after decline")
        httpx.post(f"{app.url}/api/v1/requests/track/{first['tracking_token']}/cancel")

        second = _ask(app, FORT_WILLIAM, "07812 333444")
        assert app.request_row(second["id"])["technician_id"] == near
        page.locator("#offer-timer").wait_for(timeout=5000)
        # Nobody answers: after the offer time (15 s in this app) it goes to the next nearest.
        _wait(lambda: app.request_row(second["id"])["technician_id"] == other, 30, "reassignment after timeout")
        page.locator("#no-job").wait_for(timeout=5000)
    finally:
        ctx.close()


def test_no_signal_is_calm_and_the_taps_and_positions_replay_without_an_error(app, browser) -> None:
    """Offline: a calm notice instead of the framework's websocket error; a tap and positions wait and are sent
    on reconnecting; a step the server had already applied counts as done."""
    perth = (56.3950, -3.4308)
    tid = app.make_technician("struan", at=perth, status="available")
    ctx, page = _phone(browser, perth)
    made = None
    sent: list[str] = []  # what the page sends over its websocket (every reconnect opens a new one)
    page.on("websocket", lambda ws: ws.on("framesent", lambda payload: sent.append(str(payload))))
    try:
        page.goto(f"{app.url}/login?next=/tech")
        login(page, app.url, "struan")
        made = _ask(app, perth, "07956 131313")
        page.click("#accept", timeout=10000)
        page.locator("#en-route").click(timeout=5000)
        page.locator("#arrived").wait_for(timeout=5000)
        _wait(lambda: page.evaluate("window.thTracker && window.thTracker.pending()") == 0, 15, "positions sent")

        ctx.set_offline(True)
        notice = page.locator("#offline-notice")
        notice.wait_for(timeout=15000)
        assert "No signal" in notice.inner_text() and "send when you're back" in notice.inner_text(), \
            "the notice says the taps are kept"
        assert "websocket" not in page.content().lower(), "no framework wording about websockets"
        shot(page, "technician-offline")
        ctx.set_geolocation({"latitude": perth[0] + 0.01, "longitude": perth[1]})
        _wait(lambda: page.evaluate("window.thTracker.pending()") > 0, 45, "a position kept while offline")
        page.click("#arrived")  # tapped with no signal
        taps_before = sum('"action":"arrived"' in f for f in sent)
        # Meanwhile the step reached the server by another way (an earlier attempt whose answer was lost).
        app.job_action(tid, made["id"], "arrived")

        ctx.set_offline(False)
        notice.wait_for(state="detached", timeout=30000)
        _wait(lambda: page.evaluate("window.thTracker.pending()") == 0, 25, "queued positions sent on reconnecting")
        page.locator("#fitted").wait_for(timeout=10000)  # the job shows on site
        _wait(lambda: sum('"action":"arrived"' in f for f in sent) > taps_before, 10, "the offline tap sent")
        page.wait_for_timeout(2500)  # the replayed tap has been answered
        assert page.locator("#tech-message").count() == 0, \
            f"no error after the replay: {page.locator('#tech-message').all_inner_texts()}"
        assert app.request_row(made["id"])["status"] == "on_site", "the job stands on site"
        assert abs(app.technician_row(tid)["lat"] - (perth[0] + 0.01)) < 1e-4, "the offline position arrived"
    finally:
        ctx.close()
        if made is not None:  # closed, so its offer goes to nobody else
            if app.request_row(made["id"])["status"] == "on_site":
                app.job_action(tid, made["id"], "complete")
            httpx.post(f"{app.url}/api/v1/requests/track/{made['tracking_token']}/cancel")
