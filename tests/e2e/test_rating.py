"""A driver rates a completed visit on a phone through the rating link: one tap, once."""

from __future__ import annotations

import secrets

import httpx
import sqlalchemy as sa

from tests.e2e.conftest import shot
from tests.factories import random_mobile


def _public_id(app, request_id: int):  # type: ignore[no-untyped-def]
    with app.core.engine.connect() as c:
        return c.execute(sa.text("SELECT public_id FROM service_request WHERE id = :i"), {"i": request_id}).scalar_one()


def _rating_link(app, request_id: int) -> str:  # type: ignore[no-untyped-def]
    from core.requests.rating import rating_token

    return f"{app.url}/rate/{rating_token(app.core, _public_id(app, request_id))}"


def _request(app, at: tuple[float, float]) -> tuple[int, int]:  # type: ignore[no-untyped-def]
    app.make_technician(f"rita{secrets.token_hex(2)}", at=at, status="available")
    made = httpx.post(f"{app.url}/api/v1/requests", json={
        "customer_name": "Robin Rater", "phone": random_mobile(), "location": {"lat": at[0], "lng": at[1]},
        "vehicle": "Honda Jazz", "issue": "puncture"})
    assert made.status_code == 201, made.text
    rid, tid = app.job_for(made.json()["tracking_token"])
    assert tid is not None, "nobody was sent"
    return rid, tid


def test_a_driver_rates_a_completed_visit_once(app, phone_page) -> None:  # type: ignore[no-untyped-def]
    rid, tid = _request(app, (52.6309, 1.2974))  # Norwich
    for action in ("accept", "en-route", "arrived", "complete"):
        app.job_action(tid, rid, action)
    page = phone_page
    link = _rating_link(app, rid)
    page.goto(link)
    page.locator("#rate-form").wait_for(timeout=20000)
    first = str(app.technician_row(tid)["name"]).split()[0]
    assert first in page.locator("#rate-question").inner_text(), "the technician's first name is asked about"
    page.fill("#comment", "Fast and friendly, thank you")
    shot(page, "rate-form")
    page.click("#star-4")
    page.locator("#rated").wait_for(timeout=5000)
    assert page.locator("#given-stars").inner_text() == "4", "the page shows the stars given"
    assert page.locator("#given-comment").inner_text() == "Fast and friendly, thank you", "and the comment"
    shot(page, "rated")
    with app.core.engine.connect() as c:
        rows = c.execute(sa.text("SELECT stars, comment FROM rating WHERE request_id = :i"), {"i": rid}).all()
    assert [tuple(r) for r in rows] == [(4, "Fast and friendly, thank you")], "one rating stored, as tapped"
    page.goto(link)
    page.locator("#rated").wait_for(timeout=20000)
    assert page.locator("#rate-form").count() == 0, "opened again, the link shows the rating instead of the form"


def test_an_open_request_is_not_ready_to_rate(app, phone_page) -> None:  # type: ignore[no-untyped-def]
    rid, _tid = _request(app, (50.7192, -1.8808))  # Bournemouth
    page = phone_page
    page.goto(_rating_link(app, rid))
    page.locator("#rate-not-yet").wait_for(timeout=20000)
    assert page.locator("#rate-form").count() == 0, "no stars before the job is completed"
    page.goto(f"{app.url}/rate/not-a-real-link")
    page.locator("#rate-gone").wait_for(timeout=20000)
    httpx.post(f"{app.url}/api/v1/requests/track/{_tracking(app, rid)}/cancel")


def _tracking(app, request_id: int) -> str:  # type: ignore[no-untyped-def]
    from core.requests.public import tracking_token

    return tracking_token(app.core, _public_id(app, request_id))


def test_the_console_shows_the_average_and_the_new_low_rating(app, browser) -> None:  # type: ignore[no-untyped-def]
    from tests.e2e.conftest import login
    from tests.factories import add_staff

    rid, tid = _request(app, (52.4862, -1.8904))  # Birmingham
    for action in ("accept", "en-route", "arrived", "complete"):
        app.job_action(tid, rid, action)
    rated = httpx.post(_rating_link(app, rid).replace("/rate/", "/api/v1/ratings/"),
                       json={"stars": 2, "comment": "Van went to the wrong junction"})
    assert rated.status_code == 201, rated.text
    user = f"rosa{secrets.token_hex(2)}"
    add_staff(app.core, user, "dispatcher")
    desk = browser.new_context(viewport={"width": 1440, "height": 900})
    try:
        page = desk.new_page()
        page.goto(f"{app.url}/dispatch")
        page.locator("#username").wait_for(timeout=15000)
        login(page, app.url, user)
        page.locator("#low-ratings", has_text="Van went to the wrong junction").wait_for(timeout=15000)
        average = page.locator("#rating-average").inner_text()
        assert average.startswith("4.") and average.endswith("/ 5"), f"the demo's 4.5 KPI with a few more: {average}"
    finally:
        desk.close()
