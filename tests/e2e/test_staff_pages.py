"""Staff pages that prevent mistakes: forms keep what was typed, confirmations name their target, prices are
previewed before they are saved, and closed requests offer no actions."""

from __future__ import annotations

import httpx
import sqlalchemy as sa

from core.dispatch import manual
from core.principal import Role
from tests.e2e.conftest import login, shot
from tests.factories import add_principal, add_staff

DUNDEE = (56.4620, -2.9707)


_CLICK_MARKER = """(fid) => {
  for (const k of Object.keys(window)) {
    if (!k.startsWith('realtime_')) continue;
    const layer = window[k].getLayer(fid);
    if (layer) { layer.fire('click'); return true; }
  }
  return false;
}"""


def _admin(browser, app, username: str):  # type: ignore[no-untyped-def]
    add_staff(app.core, username, "admin")
    ctx = browser.new_context(viewport={"width": 1280, "height": 900})
    page = ctx.new_page()
    page.goto(f"{app.url}/login?next=/admin")
    login(page, app.url, username)
    page.locator("#new-technician").wait_for(timeout=30000)  # the admin page's first read, on a busy machine
    return ctx, page


def test_the_add_technician_form_keeps_its_values_and_says_which_field_is_wrong(app, browser) -> None:
    ctx, page = _admin(browser, app, "adaform")
    try:
        page.fill("#tech-name", "Rhys Valve")
        page.fill("#tech-van_reg", "X")  # too short
        page.fill("#tech-van_label", "Ford Transit")
        page.fill("#tech-home_base", "Dundee")
        page.check("#tech-cap-run_flat")
        page.click("#add-technician")
        error = page.locator("#tech-van_reg-error")
        error.filter(has_text="registration").wait_for(timeout=5000)
        assert page.input_value("#tech-name") == "Rhys Valve", "the name is kept after an error"
        assert page.input_value("#tech-van_label") == "Ford Transit", "the van model is kept after an error"
        assert page.input_value("#tech-home_base") == "Dundee", "the home base is kept after an error"
        assert page.get_attribute("#tech-van_reg", "aria-invalid") == "true", "the wrong field is marked invalid"
        assert page.get_attribute("#tech-name", "aria-invalid") == "false", "a right field is not marked"
        assert "String should" not in page.content(), "no framework wording"
        shot(page, "admin-form-error")
        page.fill("#tech-van_reg", "SV24 RHY")
        page.click("#add-technician")
        page.locator("#admin-message", has_text="Rhys Valve added").wait_for(timeout=5000)
        page.wait_for_function("() => document.getElementById('tech-name').value === ''", timeout=5000)
        with app.core.engine.connect() as c:
            caps = c.execute(sa.text("SELECT capabilities FROM technician WHERE name = 'Rhys Valve'")).scalar_one()
        assert caps == ["run_flat"], "the ticked capability was saved with the corrected form"
    finally:
        ctx.close()


def test_the_technician_form_takes_a_mobile_lists_it_masked_and_the_edit_dialog_removes_it(app, browser) -> None:
    ctx, page = _admin(browser, app, "admobile")
    try:
        page.fill("#tech-name", "Ffion Mobile")
        page.fill("#tech-van_reg", "SV24 FFI")
        page.fill("#tech-phone", "020 7946 0000")
        page.click("#add-technician")
        page.locator("#tech-phone-error", has_text="starting 07").wait_for(timeout=5000)
        assert page.get_attribute("#tech-phone", "aria-invalid") == "true", "the mobile field is marked invalid"
        page.fill("#tech-phone", "07400 765432")
        page.click("#add-technician")
        page.locator("#admin-message", has_text="Ffion Mobile added").wait_for(timeout=5000)
        row = page.locator("#technicians-table tr", has_text="Ffion Mobile")
        assert row.locator(".tech-mobile").inner_text() == "07400 ••• 432", row.inner_text()
        assert "765432" not in page.content(), "the page holds the number masked only"
        row.locator(".edit-technician").click()
        page.locator("#edit-dialog").wait_for(timeout=5000)
        assert page.input_value("#edit-name") == "Ffion Mobile", "the edit form starts from the technician"
        page.check("#edit-remove-phone")
        page.click("#edit-yes")
        page.locator("#admin-message", has_text="Ffion Mobile saved").wait_for(timeout=5000)
        row.locator(".tech-mobile", has_text="None").wait_for(timeout=5000)
        with app.core.engine.connect() as c:
            enc = c.execute(sa.text("SELECT phone_enc FROM technician WHERE name = 'Ffion Mobile'")).scalar_one()
        assert enc is None, "the number was removed"
    finally:
        ctx.close()


def test_a_failed_password_reset_keeps_the_account_it_names(app, browser) -> None:
    uid = add_staff(app.core, "samnight", "dispatcher")
    with app.core.engine.begin() as c:
        c.execute(sa.text("UPDATE user_account SET display_name = 'Sam Night' WHERE id = :i"), {"i": uid})
    ctx, page = _admin(browser, app, "adareset")
    try:
        page.get_by_role("tab", name="Accounts").click()
        page.fill("#staff-search", "samnight")
        page.click("#staff-search-go")
        page.get_by_role("button", name="Reset password for Sam Night").click(timeout=5000)
        dialog = page.locator("#reset-dialog")
        dialog.get_by_text("Reset password for Sam Night?").wait_for(timeout=5000)
        page.fill("#reset-password", "short")
        page.click("#reset-yes")
        page.locator("#reset-password-error", has_text="12").wait_for(timeout=5000)
        assert dialog.get_by_text("Reset password for Sam Night?").is_visible(), "the dialog still names Sam Night"
        page.fill("#reset-password", "a much longer password")
        page.click("#reset-yes")
        page.locator("#admin-message", has_text="Password changed for Sam Night").wait_for(timeout=5000)
        r = httpx.post(f"{app.url}/auth/login", data={"username": "samnight", "password": "a much longer password",
                                                      "next": "/"}, headers={"Origin": app.url}, follow_redirects=False)
        assert r.status_code == 303 and "th_session" in r.cookies, "Sam Night's new password works"
    finally:
        ctx.close()


def test_prices_are_previewed_in_pounds_and_saved_only_after_confirming(app, browser) -> None:
    ctx, page = _admin(browser, app, "adaprice")
    try:
        page.get_by_role("tab", name="Prices").click()
        page.fill("#price-callout_pence", "59.00")
        page.click("#preview-prices")
        dialog = page.locator("#prices-dialog")
        dialog.locator(".price-change", has_text="£49.00").wait_for(timeout=5000)
        assert "£59.00" in dialog.inner_text(), "the new price is shown in pounds"
        assert "→" in page.locator("#price-example").inner_text(), "an example quote shows old -> new"
        shot(page, "admin-price-preview")
        page.click("#prices-dialog-no")
        with app.core.engine.connect() as c:
            saved = c.execute(sa.text("SELECT value FROM price_setting WHERE name = 'callout_pence'")).scalar()
        assert saved is None, "nothing is saved before confirming"
        page.click("#preview-prices")
        page.click("#save-prices")
        page.locator("#admin-message", has_text="Prices saved").wait_for(timeout=5000)
        with app.core.engine.connect() as c:
            saved = c.execute(sa.text("SELECT value FROM price_setting WHERE name = 'callout_pence'")).scalar()
        assert saved == 5900, "£59.00 is stored as 5900 pence after confirming"
    finally:
        with app.core.engine.begin() as c:
            c.execute(sa.text("DELETE FROM price_setting"))
        ctx.close()


def test_reassigning_compares_etas_and_a_closed_request_offers_no_actions(app, browser) -> None:
    first = app.make_technician("harj", at=DUNDEE, status="available")
    app.make_technician("rhys", at=(DUNDEE[0] + 0.03, DUNDEE[1]), status="available")
    add_staff(app.core, "dinah", "dispatcher")
    r = httpx.post(f"{app.url}/api/v1/requests", json={
        "customer_name": "Fergus Driver", "phone": "07956 444555", "location": {"lat": DUNDEE[0], "lng": DUNDEE[1]},
        "vehicle": "Audi A3", "issue": "blowout"})
    assert r.status_code == 201, r.text
    made = r.json()
    assert app.request_row(made["id"])["technician_id"] == first
    ctx = browser.new_context(viewport={"width": 1440, "height": 900})
    try:
        page = ctx.new_page()
        page.goto(f"{app.url}/login?next=/dispatch")
        login(page, app.url, "dinah")
        page.locator(f"#open-{made['reference']}").focus(timeout=20000)
        page.keyboard.press("Enter")  # the queue is operated from the keyboard
        page.locator("#drawer-reference", has_text=made["reference"]).wait_for(timeout=5000)
        page.locator("#drawer-eta").wait_for(timeout=5000)
        page.get_by_role("button", name="Reassign to Rhys Tester").click(timeout=5000)
        title = page.locator("#dispatch-confirm").inner_text()
        assert "from Harj Tester (" in title and "min) to Rhys Tester (" in title, f"the question compares: {title}"
        shot(page, "dispatch-reassign-confirm")
        page.click("#dispatch-confirm-no")
        assert app.request_row(made["id"])["technician_id"] == first, "nothing changes before confirming"
        # The request is closed elsewhere (another dispatcher): the open drawer follows and offers nothing.
        manual.cancel(app.core, add_principal(app.core, Role.DISPATCHER, "dora"), made["id"], "driver fixed it")
        page.locator("#drawer-status", has_text="Cancelled").wait_for(timeout=20000)
        assert page.locator("#unassign").count() == 0, "a closed request offers no Unassign"
        assert page.locator("#cancel-request").count() == 0, "a closed request offers no Cancel"
        assert page.locator(".assign").count() == 0, "a closed request offers no Assign or Reassign"
    finally:
        ctx.close()
        httpx.post(f"{app.url}/api/v1/requests/track/{made['tracking_token']}/cancel")


def test_clicking_a_request_on_the_map_opens_its_drawer(app, browser) -> None:
    add_staff(app.core, "mapdesk", "dispatcher")
    r = httpx.post(f"{app.url}/api/v1/requests", json={
        "customer_name": "Maisie Driver", "phone": "07956 777888", "location": {"lat": 58.9690, "lng": -2.9560},
        "vehicle": "Kia Ceed", "issue": "flat"})
    assert r.status_code == 201, r.text
    made = r.json()
    ctx = browser.new_context(viewport={"width": 1440, "height": 900})
    try:
        page = ctx.new_page()
        page.goto(f"{app.url}/login?next=/dispatch")
        login(page, app.url, "mapdesk")
        page.locator("#map-legend").wait_for(timeout=20000)
        frame = page.frame_locator("iframe[title='Live map']")
        frame.locator(".leaflet-control-layers").get_by_text("Requests").wait_for(timeout=10000)
        frame.locator(".leaflet-control-layers").get_by_text("Vans").wait_for(timeout=5000)
        # The request's own marker (leaflet-realtime's getLayer by feature id), clicked as a mouse would.
        map_frame = next(f for f in page.frames if "/map/dispatch" in f.url)
        map_frame.wait_for_function(_CLICK_MARKER, arg=f"r{made['id']}", timeout=15000)
        page.locator("#drawer-reference", has_text=made["reference"]).wait_for(timeout=5000)
        opened = page.locator("#drawer-reference").inner_text() == made["reference"]
        assert opened, "clicking the request's marker opened its drawer"
    finally:
        ctx.close()
        httpx.post(f"{app.url}/api/v1/requests/track/{made['tracking_token']}/cancel")
