"""What people typed is shown as text on the maps: a van label (and a customer's name and notes) made of
markup runs nothing on the customer's tracking map or the dispatcher's map, and reads literally."""

from __future__ import annotations

import re

import httpx
import sqlalchemy as sa

from tests.e2e.conftest import login

PAYLOAD = "<img src=x onerror=alert(1)>"
NAME = "<i>Eve</i> Tester"
PORTREE = (57.4125, -6.1960)  # far from the demo fleet's towns: our technician is the nearest


def _watch_dialogs(page) -> list[str]:  # type: ignore[no-untyped-def]
    fired: list[str] = []

    def seen(dialog) -> None:  # type: ignore[no-untyped-def]
        fired.append(dialog.message)
        dialog.dismiss()

    page.on("dialog", seen)
    return fired


def _map_frame(page):  # type: ignore[no-untyped-def]
    page.locator("iframe[title='Live map']").wait_for(timeout=15000)
    page.wait_for_function("() => [...document.querySelectorAll('iframe')].some(f => f.src.includes('/map/'))")
    for _ in range(100):
        frame = next((f for f in page.frames if "/map/" in f.url), None)
        if frame is not None:
            return frame
        page.wait_for_timeout(100)
    raise AssertionError("no map frame")


# leaflet-realtime's public getLayer(featureId) on the page's Realtime layers (folium names them realtime_*).
_OPEN = """([fid, how]) => {
  for (const k of Object.keys(window)) {
    if (!k.startsWith('realtime_')) continue;
    const layer = window[k].getLayer(fid);
    if (layer) { how === 'popup' ? layer.openPopup() : layer.openTooltip(); return true; }
  }
  return false;
}"""


def _open(frame, feature_id: str, how: str) -> None:  # type: ignore[no-untyped-def]
    frame.wait_for_function(_OPEN, arg=[feature_id, how], timeout=15000)


def _probe_dialogs_are_seen(page, frame, fired: list[str]) -> None:  # type: ignore[no-untyped-def]
    """The listener would have caught an alert from inside the map frame: one fired on purpose is seen."""
    frame.evaluate("() => setTimeout(() => alert('probe'), 0)")
    page.wait_for_timeout(500)
    assert fired == ["probe"], fired


def _technician_with_markup(app) -> int:  # type: ignore[no-untyped-def]
    tid = app.make_technician("markup", at=(PORTREE[0] + 0.04, PORTREE[1]), status="available")
    with app.core.engine.begin() as c:
        c.execute(sa.text("UPDATE technician SET van_label = :v, name = :n WHERE id = :i"),
                  {"v": PAYLOAD, "n": NAME, "i": tid})
    return tid


def test_markup_in_a_van_label_and_a_customers_words_runs_nowhere_and_reads_literally(app, browser) -> None:
    tid = _technician_with_markup(app)
    r = httpx.post(f"{app.url}/api/v1/requests", json={
        "customer_name": PAYLOAD, "phone": "07723 456789", "location": {"lat": PORTREE[0], "lng": PORTREE[1]},
        "vehicle": "Ford Fiesta", "issue": "puncture", "notes": PAYLOAD}, timeout=10)
    assert r.status_code == 201, r.text
    made = r.json()
    assert app.request_row(made["id"])["technician_id"] == tid

    ctx = browser.new_context(viewport={"width": 1280, "height": 900})
    try:
        # The customer's tracking page: the van's tooltip.
        page = ctx.new_page()
        fired = _watch_dialogs(page)
        page.goto(f"{app.url}/track/{made['tracking_token']}")
        frame = _map_frame(page)
        _open(frame, "van", "tooltip")
        tooltip = frame.locator(".leaflet-tooltip").first
        tooltip.wait_for(timeout=5000)
        assert tooltip.inner_text() == f"<i>Eve</i> · {PAYLOAD}"
        assert frame.locator(".leaflet-tooltip img, .leaflet-tooltip i").count() == 0
        page.wait_for_timeout(1000)  # an injected <img> would have failed to load and fired by now
        assert fired == []
        _probe_dialogs_are_seen(page, frame, fired)

        # The dispatcher's console and map: the technician's popup, the request's popup, the queue row.
        from tests.factories import add_staff

        add_staff(app.core, "markupdesk", "dispatcher")
        desk = ctx.new_page()
        fired = _watch_dialogs(desk)
        desk.goto(f"{app.url}/dispatch")
        desk.locator("#username").wait_for(timeout=15000)
        login(desk, app.url, "markupdesk")
        desk.locator(f"#open-{made['reference']}").click(timeout=15000)
        desk.locator("#drawer-reference", has_text=made["reference"]).wait_for(timeout=5000)
        desk.get_by_text(PAYLOAD).first.wait_for(timeout=5000)  # the customer's name, as text
        frame = _map_frame(desk)
        _open(frame, f"t{tid}", "popup")
        popup = frame.locator(".leaflet-popup-content")
        popup.wait_for(timeout=5000)
        lines = popup.inner_text().splitlines()
        assert lines[0] == NAME, lines
        assert lines[-1] == PAYLOAD, lines
        assert frame.locator(".leaflet-popup-content img, .leaflet-popup-content i").count() == 0
        _open(frame, f"r{made['id']}", "tooltip")  # a request's marker opens its drawer on click; hovering names it
        frame.locator(".leaflet-tooltip", has_text=made["reference"]).wait_for(timeout=5000)
        desk.wait_for_timeout(1000)
        assert fired == []
        _probe_dialogs_are_seen(desk, frame, fired)
    finally:
        ctx.close()
        # Closed, so that its offer does not expire and go to a technician another test put on shift.
        httpx.post(f"{app.url}/api/v1/requests/track/{made['tracking_token']}/cancel", timeout=10)


def test_the_map_page_runs_only_scripts_with_its_nonce(app, browser) -> None:
    ctx = browser.new_context()
    try:
        page = ctx.new_page()
        fired = _watch_dialogs(page)
        page.goto(f"{app.url}/map/point?lat={PORTREE[0]}&lng={PORTREE[1]}")
        page.locator("path.leaflet-interactive").first.wait_for(timeout=10000)  # folium's own scripts ran
        policy = httpx.get(f"{app.url}/map/point?lat=57&lng=-6").headers["content-security-policy"]
        assert re.search(r"script-src 'self' 'nonce-[A-Za-z0-9_-]+'", policy)
        # Markup added to the page now (as a missed escape would) cannot run a handler.
        page.evaluate(f"() => {{ document.body.insertAdjacentHTML('beforeend', {PAYLOAD!r}); }}")
        page.wait_for_timeout(1000)
        assert fired == []
    finally:
        ctx.close()
