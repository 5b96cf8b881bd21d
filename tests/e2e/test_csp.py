"""The pages work under a policy without 'unsafe-eval', and the real app's socket refuses other sites."""

from __future__ import annotations

import httpx
import pytest
import websocket

from tests.e2e.conftest import login

# Every CSP violation in any frame, collected before the page's own scripts run.
_RECORD_VIOLATIONS = """
window.__csp = [];
document.addEventListener('securitypolicyviolation',
                          (e) => window.__csp.push(e.violatedDirective + ' ' + e.blockedURI));
"""
HOME = (51.4545, -0.9781)


def _context(browser, at: tuple[float, float] = HOME):  # type: ignore[no-untyped-def]
    ctx = browser.new_context(viewport={"width": 390, "height": 844}, is_mobile=True, has_touch=True,
                              geolocation={"latitude": at[0], "longitude": at[1], "accuracy": 8},
                              permissions=["geolocation"])
    ctx.add_init_script(_RECORD_VIOLATIONS)
    return ctx


def test_pages_are_served_without_unsafe_eval(app) -> None:
    for path in ("/", "/login", "/tech"):
        policy = httpx.get(f"{app.url}{path}").headers["content-security-policy"]
        assert "'unsafe-eval'" not in policy, path


def test_use_my_location_works_without_eval(app, browser) -> None:
    ctx = _context(browser)
    try:
        page = ctx.new_page()
        page.goto(app.url)
        page.locator("#use-location").click(timeout=20000)
        page.locator("#location-label").wait_for(timeout=15000)  # the position came back through the callback
        assert page.locator("#location-label").inner_text().strip()
        assert page.evaluate("window.__csp") == []
    finally:
        ctx.close()


def test_login_logout_and_the_technicians_tracker_work_without_eval(app, browser) -> None:
    at = (52.6309, 1.2974)  # Norwich
    tid = app.make_technician("cspcheck", at=(at[0] + 0.1, at[1]), status="offline")
    ctx = _context(browser, at)
    try:
        page = ctx.new_page()
        page.goto(f"{app.url}/login?next=/tech")
        login(page, app.url, "cspcheck")  # the form posts natively: a compiled function submits it
        page.locator("#start-shift").click(timeout=15000)
        page.locator("#tech-status", has_text="Available").wait_for(timeout=5000)
        deadline = 30_000
        while abs((app.technician_row(tid)["lat"] or 0) - at[0]) > 1e-4 and deadline > 0:
            page.wait_for_timeout(250)
            deadline -= 250
        assert abs(app.technician_row(tid)["lat"] - at[0]) < 1e-4, "the tracker never sent the phone's position"
        assert page.evaluate("window.__csp") == []
        page.locator("#logout").click()
        page.locator("#username").wait_for(timeout=15000)
        assert "/login" in page.url
    finally:
        ctx.close()


@pytest.mark.parametrize(("origin", "opens"), [("https://evil.example", False), (None, True), ("own", True)])
def test_the_apps_socket_opens_only_for_its_own_pages(app, origin: str | None, opens: bool) -> None:
    url = app.url.replace("http://", "ws://") + "/_event/?EIO=4&transport=websocket"
    kwargs: dict = {"timeout": 10}
    if origin is None:
        kwargs["suppress_origin"] = True
    else:
        kwargs["origin"] = app.url if origin == "own" else origin
    if not opens:
        with pytest.raises(websocket.WebSocketBadStatusException) as e:
            websocket.create_connection(url, **kwargs)
        assert e.value.status_code == 403
        return
    ws = websocket.create_connection(url, **kwargs)
    try:
        assert ws.recv().startswith("0{")  # Engine.IO's open packet
    finally:
        ws.close()
