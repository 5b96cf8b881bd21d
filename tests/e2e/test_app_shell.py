"""The running app: home page on a phone, health, and the API on the same port."""

from __future__ import annotations

import httpx


def test_home_page_names_the_service_and_opens_on_the_form(app, phone_page) -> None:
    phone_page.goto(app.url)
    phone_page.get_by_text("Flat tyre? We come to you.").wait_for(timeout=15000)
    assert phone_page.locator("#use-location").is_visible()
    assert phone_page.locator("#phone").get_attribute("type") == "tel"
    assert "TyreHero" in phone_page.title()
    # Nothing on the page reaches past the 390 px phone screen.
    assert phone_page.evaluate("document.documentElement.scrollWidth") <= 390


def test_health_and_api_share_the_port(app) -> None:
    h = httpx.get(f"{app.url}/health").json()
    assert h == {"status": "ok", "checks": {"database": True, "redis": True}}
    assert httpx.get(f"{app.url}/openapi.json").json()["info"]["title"] == "TyreHero API"


def test_demo_fleet_dispatches_a_request(app) -> None:
    body = {"customer_name": "Sam", "phone": "07812 345678", "location": {"postcode": "B1"},
            "vehicle": "VW Golf", "issue": "flat"}
    r = httpx.post(f"{app.url}/api/v1/requests", json=body, timeout=10)
    assert r.status_code == 201, r.text
    assert r.json()["status"] in ("assigned", "pending")
    # Closed again: left open, its offers would expire every few seconds and move vans while later tests
    # compare the tables.
    httpx.post(f"{app.url}/api/v1/requests/track/{r.json()['tracking_token']}/cancel", timeout=10)
