"""Offer alerts over HTTP: a technician subscribes their own phone, from their session; nobody else can."""

from __future__ import annotations

import httpx
import sqlalchemy as sa

from core.context import Core
from core.notify.push_subscriptions import vapid_public_key
from tests.factories import add_staff, add_technicians, bearer
from tests.integration.notify.push_service import Phone, PushService

PATH = "/api/v1/technicians/me/push-subscriptions"


def _phone() -> Phone:
    phone = PushService(url="https://fcm.googleapis.com/fcm/send").new_phone()
    return phone


def _body(phone: Phone, **extra: object) -> dict:
    return {"endpoint": phone.endpoint, "expirationTime": None, "keys": {"p256dh": phone.p256dh,
                                                                        "auth": phone.auth_b64}, **extra}


def _owners(core: Core) -> dict[str, int]:
    with core.engine.connect() as c:
        return dict(c.execute(sa.text("SELECT endpoint, technician_id FROM push_subscription")).all())


def test_a_technician_subscribes_their_own_phone_whatever_the_body_says(core: Core, api_server) -> None:
    anna, ben = add_technicians(core, 2, seed=21)
    add_staff(core, "anna", "technician", tech_id=anna)
    add_staff(core, "ben", "technician", tech_id=ben)
    ha, hb = bearer(api_server.url, "anna"), bearer(api_server.url, "ben")
    url = f"{api_server.url}{PATH}"
    got = httpx.get(url, headers=ha).json()
    assert got == {"public_key": vapid_public_key(core.settings), "subscriptions": 0}, got
    phone = _phone()
    # Ben names Anna in the body: the server takes the technician from Ben's session only.
    r = httpx.post(url, headers=hb, json=_body(phone, technician_id=anna))
    assert r.status_code == 201 and r.json()["subscriptions"] == 1, r.text
    assert _owners(core) == {phone.endpoint: ben}, "the subscription is Ben's"
    assert httpx.get(url, headers=ha).json()["subscriptions"] == 0, "Anna has none"
    # Ben cannot remove Anna's phone either.
    annas = _phone()
    assert httpx.post(url, headers=ha, json=_body(annas)).status_code == 201
    r = httpx.request("DELETE", url, headers=hb, json={"endpoint": annas.endpoint})
    assert r.status_code == 200 and r.json()["subscriptions"] == 1, r.text
    assert _owners(core)[annas.endpoint] == anna, "Anna's phone is still hers"
    r = httpx.request("DELETE", url, headers=ha, json={"endpoint": annas.endpoint})
    assert r.json()["subscriptions"] == 0 and annas.endpoint not in _owners(core)


def test_anonymous_and_other_roles_are_refused(core: Core, api_server) -> None:
    add_staff(core, "dora", "dispatcher")
    url = f"{api_server.url}{PATH}"
    body = _body(_phone())
    assert httpx.post(url, json=body).status_code == 401
    assert httpx.get(url).status_code == 401
    assert httpx.post(url, json=body, headers=bearer(api_server.url, "dora")).status_code == 403
    assert _owners(core) == {}, "nothing stored"


def test_a_bad_subscription_gets_a_message_per_field(core: Core, api_server) -> None:
    (tid,) = add_technicians(core, 1, seed=22)
    add_staff(core, "cara", "technician", tech_id=tid)
    r = httpx.post(f"{api_server.url}{PATH}", headers=bearer(api_server.url, "cara"),
                   json={"endpoint": "http://169.254.169.254/latest", "keys": {"p256dh": "x", "auth": ""}})
    assert r.status_code == 422, r.text
    fields = {e["field"]: e["message"] for e in r.json()["detail"]}
    assert set(fields) == {"endpoint", "p256dh", "auth"}, fields
    assert "https://" in fields["endpoint"], fields
    assert _owners(core) == {}, "nothing half-stored"
