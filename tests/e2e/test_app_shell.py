"""The running app: home page on a phone, health, and the API on the same port."""

from __future__ import annotations

import httpx

from tests.e2e.conftest import shot


def test_home_page_names_the_service_and_links_help(app, phone_page) -> None:
    phone_page.goto(app.url)
    phone_page.get_by_text("Flat tyre? We come to you.").wait_for(timeout=15000)
    link = phone_page.locator("#get-help")
    assert link.is_visible()
    assert link.get_attribute("href") == "/request"
    assert "TyreHero" in phone_page.title()
    shot(phone_page, "home")


def test_health_and_api_share_the_port(app) -> None:
    h = httpx.get(f"{app.url}/health").json()
    assert h == {"status": "ok", "checks": {"database": True, "redis": True}}
    assert httpx.get(f"{app.url}/openapi.json").json()["info"]["title"] == "TyreHero API"


def test_demo_fleet_dispatches_a_request(app) -> None:
    body = {"customer_name": "Sam", "phone": "07911 123456", "location": {"postcode": "B1"},
            "vehicle": "VW Golf", "issue": "flat"}
    r = httpx.post(f"{app.url}/api/v1/requests", json=body, timeout=10)
    assert r.status_code == 201, r.text
    assert r.json()["status"] in ("assigned", "pending")
