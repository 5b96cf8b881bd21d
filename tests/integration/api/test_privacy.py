"""Personal data: export and erasure by phone number (admin only, audited), retention."""

from __future__ import annotations

import httpx
import sqlalchemy as sa

from core.context import Core
from core.privacy.retention import apply_retention
from tests.factories import add_staff, add_technicians, bearer, random_mobile, request_body


def test_export_erase_and_audit(core: Core, api_server) -> None:
    add_technicians(core, 1)
    root_id = add_staff(core, "root", "admin")
    add_staff(core, "dee", "dispatcher")
    h = bearer(api_server.url, "root")
    phone = random_mobile()
    made = httpx.post(
        f"{api_server.url}/api/v1/requests", json=request_body(phone=phone, customer_name="Rhian Ellis")
    ).json()
    base = f"{api_server.url}/api/v1/admin/privacy"
    assert httpx.post(f"{base}/export", headers=bearer(api_server.url, "dee"), json={"phone": phone}).status_code == 403
    exported = httpx.post(f"{base}/export", headers=h, json={"phone": phone}).json()
    assert exported["requests"][0]["customer_name"] == "Rhian Ellis", (
        "wanted exported['requests'][0]['customer_name'] == 'Rhian Ellis'"
    )
    assert exported["requests"][0]["timeline"], "wanted exported['requests'][0]['timeline']"
    assert "phone_enc" not in exported["requests"][0]
    refused = httpx.post(f"{base}/erase", headers=h, json={"phone": phone})
    assert refused.status_code == 409  # still open
    httpx.post(f"{api_server.url}/api/v1/requests/track/{made['tracking_token']}/cancel")
    assert httpx.post(f"{base}/erase", headers=h, json={"phone": phone}).json() == {"erased": 1}
    with core.engine.connect() as c:
        name, enc = c.execute(sa.text("SELECT customer_name, phone_enc FROM service_request")).one()
    assert name == "(erased)", f"name is {name!r}, wanted '(erased)'"
    assert enc == "", f"enc is {enc!r}, wanted ''"
    assert httpx.post(f"{base}/export", headers=h, json={"phone": phone}).status_code == 404
    trail = httpx.get(f"{api_server.url}/api/v1/admin/audit", headers=h).json()
    assert [(a["action"], a["actor"], a["actor_id"], a["actor_role"]) for a in trail[:2]] == [
        ("erased", "Root", root_id, "admin"), ("exported", "Root", root_id, "admin")]


def test_retention_anonymises_only_old_closed_requests(core: Core, api_server) -> None:
    old = httpx.post(f"{api_server.url}/api/v1/requests", json=request_body()).json()
    recent = httpx.post(f"{api_server.url}/api/v1/requests", json=request_body()).json()
    httpx.post(f"{api_server.url}/api/v1/requests", json=request_body())  # open: kept
    for r in (old, recent):
        httpx.post(f"{api_server.url}/api/v1/requests/track/{r['tracking_token']}/cancel")
    with core.engine.begin() as c:
        c.execute(sa.text("UPDATE service_request SET cancelled_at = now() - interval '40 days' WHERE id = :i"),
                  {"i": old["id"]})
    assert apply_retention(core) == 1
    with core.engine.connect() as c:
        names = dict(c.execute(sa.text("SELECT id, customer_name FROM service_request")).all())
    assert names[old["id"]] == "(erased)", "wanted names[old['id']] == '(erased)'"
    assert names[recent["id"]] != "(erased)", "wanted names[recent['id']] != '(erased)'"
    assert sum(1 for n in names.values() if n == "(erased)") == 1
