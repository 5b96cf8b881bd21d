"""axe-core (from the npm registry, `.tools/node_modules/axe-core`) injected into every page as people use it:
no serious or critical violation anywhere, and no moderate one unless justified below."""

from __future__ import annotations

import re

import httpx
import pytest

from tests.e2e.conftest import ROOT, login
from tests.factories import add_staff

AXE = ROOT / ".tools" / "node_modules" / "axe-core" / "axe.min.js"
GLASGOW = (55.8642, -4.2518)

# Moderate findings accepted, each with its reason (rule id -> why). Keep it short.
JUSTIFIED_MODERATE: dict[str, str] = {}

_RUN = """async () => {
  const r = await axe.run(document, {resultTypes: ['violations'], iframes: false,
                                      runOnly: {type: 'tag', values: ['wcag2a', 'wcag2aa', 'wcag21a', 'wcag21aa',
                                                                      'wcag22aa', 'best-practice']}});
  return r.violations.map(v => ({id: v.id, impact: v.impact, help: v.help,
                                 nodes: v.nodes.slice(0, 4).map(n => n.target.join(' '))}));
}"""


def _violations(page) -> list[dict]:  # type: ignore[no-untyped-def]
    if not AXE.exists():
        pytest.fail(f"axe-core missing at {AXE}: run `npm install` in .tools")
    page.add_script_tag(content=AXE.read_text())
    return page.evaluate(_RUN)


def _blocking(found: list[dict]) -> list[dict]:
    return [v for v in found if v["impact"] in ("serious", "critical")
            or (v["impact"] == "moderate" and v["id"] not in JUSTIFIED_MODERATE)]


def _settle(page, selector: str) -> None:  # type: ignore[no-untyped-def]
    page.locator(selector).first.wait_for(timeout=20000)
    page.wait_for_timeout(700)  # the first refresh tick has drawn the page


def test_every_page_passes_axe(app, browser) -> None:
    tid = app.make_technician("axel", at=GLASGOW, status="available")
    add_staff(app.core, "adaaxe", "admin")
    add_staff(app.core, "dispaxe", "dispatcher")
    r = httpx.post(f"{app.url}/api/v1/requests", json={
        "customer_name": "Ailsa Driver", "phone": "07956 121212", "location": {"lat": GLASGOW[0], "lng": GLASGOW[1]},
        "vehicle": "Ford Fiesta", "issue": "puncture"})
    assert r.status_code == 201, r.text
    made = r.json()
    phone = browser.new_context(viewport={"width": 390, "height": 844}, is_mobile=True, has_touch=True)
    desk = browser.new_context(viewport={"width": 1440, "height": 900})
    results: dict[str, list[dict]] = {}
    try:
        page = phone.new_page()
        page.goto(app.url)
        _settle(page, "#customer_name")
        results["/"] = _violations(page)
        page.goto(f"{app.url}/track/{made['tracking_token']}")
        _settle(page, "#reference")
        results["/track/<token>"] = _violations(page)
        page.goto(f"{app.url}/login")
        _settle(page, "#username")
        results["/login"] = _violations(page)
        page.goto(f"{app.url}/login?next=/tech")
        login(page, app.url, "axel")
        _settle(page, "#tech-status")
        results["/tech"] = _violations(page)

        desk_page = desk.new_page()
        desk_page.goto(f"{app.url}/login?next=/dispatch")
        login(desk_page, app.url, "dispaxe")
        _settle(desk_page, f"#open-{made['reference']}")
        desk_page.click(f"#open-{made['reference']}")
        _settle(desk_page, "#drawer-reference")
        results["/dispatch (request open)"] = _violations(desk_page)
        desk2 = browser.new_context(viewport={"width": 1440, "height": 900})
        try:
            admin_page = desk2.new_page()
            admin_page.goto(f"{app.url}/login?next=/admin")
            login(admin_page, app.url, "adaaxe")
            _settle(admin_page, "#technicians-table")
            results["/admin"] = _violations(admin_page)
        finally:
            desk2.close()
    finally:
        phone.close()
        desk.close()
        httpx.post(f"{app.url}/api/v1/requests/track/{made['tracking_token']}/cancel")
    assert tid
    for where, found in results.items():
        print(f"\n{where}: {len(found)} violations: "
              + "; ".join(f"{v['impact']} {v['id']} ({', '.join(v['nodes'])})" for v in found))
    for where, found in results.items():
        blocking = _blocking(found)
        assert not blocking, f"{where}: " + "; ".join(f"{v['impact']} {v['id']}: {v['help']} at {v['nodes']}"
                                                       for v in blocking)


def test_each_page_has_one_h1_and_a_main_landmark(app, browser) -> None:
    ctx = browser.new_context(viewport={"width": 390, "height": 844})
    try:
        page = ctx.new_page()
        for path, ready in (("/", "#customer_name"), ("/login", "#username")):
            page.goto(f"{app.url}{path}")
            _settle(page, ready)
            assert page.locator("main").count() == 1, f"{path} has one <main>"
            assert page.locator("h1").count() == 1, f"{path} has one h1: {page.locator('h1').all_inner_texts()}"
            assert not re.search(r"websocket", page.content(), re.I), f"{path} shows no framework connection text"
    finally:
        ctx.close()
