"""Admin API: accounts, technicians, prices; and nobody else may use it."""

from __future__ import annotations

import httpx
import sqlalchemy as sa

from core.context import Core
from tests.factories import add_staff, add_technicians, bearer, request_body


def test_admin_manages_technicians_staff_and_prices(core: Core, api_server) -> None:
    add_staff(core, "root", "admin")
    h = bearer(api_server.url, "root")
    base = f"{api_server.url}/api/v1/admin"
    r = httpx.post(f"{base}/technicians", headers=h, json={"name": "Nia Rees", "van_reg": "th24 abc",
                                                           "capabilities": ["run_flat"], "username": "nia",
                                                           "password": "a long enough one"})
    assert r.status_code == 201, r.text
    bad = httpx.post(f"{base}/technicians", headers=h, json={"name": "X", "van_reg": "AB1", "capabilities": ["laser"]})
    assert bad.status_code == 422, f"wanted HTTP 422, got {bad.status_code}"
    assert "unknown capability" in bad.json()["detail"][0]["message"], (
        "'unknown capability' missing from bad.json()['detail'][0]['message']"
    )
    dup = httpx.post(f"{base}/users", headers=h, json={"username": "nia", "display_name": "N", "role": "dispatcher",
                                                       "password": "a long enough one"})
    assert dup.status_code == 422, f"wanted HTTP 422, got {dup.status_code}"
    assert dup.json()["detail"][0]["field"] == "username", "wanted dup.json()['detail'][0]['field'] == 'username'"
    nia = bearer(api_server.url, "nia", "a long enough one")
    assert httpx.get(f"{api_server.url}/api/v1/technicians/me/job", headers=nia).status_code == 200
    users = {u["username"]: u for u in httpx.get(f"{base}/users", headers=h).json()}
    assert httpx.post(f"{base}/users/{users['nia']['id']}/password", headers=h,
                      json={"password": "another long one"}).status_code == 204
    assert httpx.get(f"{api_server.url}/api/v1/technicians/me/job", headers=nia).status_code == 401  # sessions ended

    before = httpx.post(f"{api_server.url}/api/v1/requests", json=request_body()).json()["quote_pence"]
    r = httpx.put(f"{base}/prices", headers=h, json={"callout_pence": 9900})
    assert r.status_code == 200, f"wanted HTTP 200, got {r.status_code}"
    assert r.json()["callout_pence"] == 9900, "wanted r.json()['callout_pence'] == 9900"
    after = httpx.post(f"{api_server.url}/api/v1/requests", json=request_body()).json()["quote_pence"]
    assert after > before
    assert httpx.put(f"{base}/prices", headers=h, json={"night_start_hour": 30}).status_code == 422


def test_only_admins(core: Core, api_server) -> None:
    tech = add_technicians(core, 1)[0]
    add_staff(core, "tom", "technician", tech_id=tech)
    add_staff(core, "dee", "dispatcher")
    for user in ("tom", "dee"):
        h = bearer(api_server.url, user)
        assert httpx.get(f"{api_server.url}/api/v1/admin/users", headers=h).status_code == 403


def test_cannot_deactivate_a_technician_on_a_job(core: Core, api_server) -> None:
    tech = add_technicians(core, 1)[0]
    add_staff(core, "root", "admin")
    h = bearer(api_server.url, "root")
    httpx.post(f"{api_server.url}/api/v1/requests", json=request_body())
    r = httpx.post(f"{api_server.url}/api/v1/admin/technicians/{tech}/active", headers=h, json={"active": False})
    assert r.status_code == 409, f"wanted HTTP 409, got {r.status_code}"
    assert "reassign it first" in r.json()["detail"], "'reassign it first' missing from r.json()['detail']"


def test_admin_sets_lists_masked_and_removes_a_technicians_mobile(core: Core, api_server) -> None:
    from core.phones import normalise_uk_mobile
    from tests.factories import random_mobile

    add_staff(core, "root", "admin")
    h = bearer(api_server.url, "root")
    base = f"{api_server.url}/api/v1/admin/technicians"
    number = normalise_uk_mobile(random_mobile())
    national = "0" + number.removeprefix("+44")
    body = {"name": "Nia Rees", "van_reg": "TH24 ABC"}

    bad = httpx.post(base, headers=h, json=body | {"phone": "020 7946 0000"})
    assert bad.status_code == 422, bad.text
    assert bad.json()["detail"] == [{"field": "phone", "message":
                                     "Enter a UK mobile number (starting 07) so job offers can go by text."}], bad.text
    assert [t["name"] for t in httpx.get(base, headers=h).json()] == [], "a refused body stores nothing"

    tid = httpx.post(base, headers=h, json=body | {"phone": national}).json()["id"]
    listed = httpx.get(base, headers=h)
    (row,) = listed.json()
    assert row["mobile"] == f"{national[:5]} ••• {national[-3:]}", row
    assert number not in listed.text and national not in listed.text, "the list never carries the whole number"
    with core.engine.connect() as c:
        enc = c.execute(sa.text("SELECT phone_enc FROM technician WHERE id = :i"), {"i": tid}).scalar_one()
    assert national[1:] not in enc and core.vault.decrypt(enc) == number, "stored encrypted, as E.164"

    assert httpx.put(f"{base}/{tid}", headers=h, json=body | {"van_label": "Transit"}).status_code == 204
    assert httpx.get(base, headers=h).json()[0]["mobile"] == row["mobile"], "a body without phone keeps it"
    bad = httpx.put(f"{base}/{tid}", headers=h, json=body | {"phone": "not a number"})
    assert bad.status_code == 422 and bad.json()["detail"][0]["field"] == "phone", bad.text
    assert httpx.put(f"{base}/{tid}", headers=h, json=body | {"phone": None}).status_code == 204
    assert httpx.get(base, headers=h).json()[0]["mobile"] == "", "null removes the number"

    audit = httpx.get(f"{api_server.url}/api/v1/admin/audit", headers=h).text
    assert '"mobile":"removed"' in audit and '"mobile":"set"' in audit, audit
    assert national[1:] not in audit, "the audit trail never holds the number"

    tech = add_technicians(core, 1)[0]
    add_staff(core, "dee", "dispatcher")
    add_staff(core, "tom", "technician", tech_id=tech)
    for user in ("dee", "tom"):
        r = httpx.put(f"{base}/{tech}", headers=bearer(api_server.url, user), json=body | {"phone": national})
        assert r.status_code == 403, f"{user}: wanted 403, got {r.status_code}"
    with core.engine.connect() as c:
        assert c.execute(sa.text("SELECT phone_enc FROM technician WHERE id = :i"), {"i": tech}).scalar_one() is None
