"""The texts the app sends are on the admin page: with the log provider, that is where a newcomer reads them."""

from __future__ import annotations

import httpx

from tests.e2e.conftest import login, shot


def test_an_admin_reads_a_new_requests_text_on_the_messages_tab(app, browser) -> None:  # type: ignore[no-untyped-def]
    from tests.factories import add_staff

    r = httpx.post(f"{app.url}/api/v1/requests", json={
        "customer_name": "Mo Driver", "phone": "07911 123457", "location": {"lat": 53.4808, "lng": -2.2426},
        "vehicle": "Kia Ceed", "issue": "puncture"})
    assert r.status_code == 201, r.text
    reference = r.json()["reference"]
    add_staff(app.core, "texts-admin", "admin")
    ctx = browser.new_context(viewport={"width": 1280, "height": 800})
    try:
        page = ctx.new_page()
        page.goto(f"{app.url}/login?next=/admin")
        login(page, app.url, "texts-admin")
        page.get_by_role("tab", name="Messages").click(timeout=15000)
        texts = page.locator("#texts")
        texts.get_by_text(f"TyreHero has your request {reference}").wait_for(timeout=10000)
        assert r.json()["tracking_token"] not in texts.inner_text(), "the tracking token is masked"
        shot(page, "admin-messages")
    finally:
        ctx.close()
