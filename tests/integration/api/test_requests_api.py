"""The public request API over real HTTP: submission, idempotency, bad input, tracking, cancel."""

from __future__ import annotations

import concurrent.futures as cf

import httpx
import pytest
import sqlalchemy as sa

from core.bootstrap import Core
from core.technicians import job_action
from tests.factories import add_technicians, as_technician, random_mobile, request_body


def _count(core: Core) -> int:
    with core.engine.connect() as c:
        return c.execute(sa.text("SELECT count(*) FROM service_request")).scalar_one()


def test_submit_assigns_nearest_and_tracks(core: Core, api_server) -> None:
    add_technicians(core, 5, seed=1)
    r = httpx.post(f"{api_server.url}/api/v1/requests", json=request_body())
    assert r.status_code == 201, r.text
    body = r.json()
    assert body["status"] == "assigned" and body["technician"]["first_name"]
    assert body["reference"].startswith("TH-") and body["quote_pence"] > 0 and body["eta_minutes"] >= 8
    t = httpx.get(f"{api_server.url}/api/v1/requests/track/{body['tracking_token']}").json()
    assert t["status"] == "assigned" and t["technician_position"] is not None
    assert [e["kind"] for e in t["timeline"]] == ["created", "assigned"]


def test_idempotency_key_gives_one_request(core: Core, api_server) -> None:
    body = request_body()
    headers = {"Idempotency-Key": "tap-123"}
    with cf.ThreadPoolExecutor(8) as ex:
        answers = list(ex.map(lambda _: httpx.post(f"{api_server.url}/api/v1/requests", json=body, headers=headers), range(8)))
    assert all(a.status_code == 201 for a in answers)
    assert len({a.json()["id"] for a in answers}) == 1
    assert len({a.json()["tracking_token"] for a in answers}) == 1
    assert _count(core) == 1


def test_same_phone_within_five_minutes_returns_open_request(core: Core, api_server) -> None:
    phone = random_mobile()
    first = httpx.post(f"{api_server.url}/api/v1/requests", json=request_body(phone=phone)).json()
    again = httpx.post(f"{api_server.url}/api/v1/requests", json=request_body(phone=phone.replace(" ", ""))).json()
    assert again["id"] == first["id"] and again["duplicate"] is True and first["duplicate"] is False
    assert _count(core) == 1


BAD = [
    ("missing field", {k: v for k, v in request_body().items() if k != "vehicle"}, "vehicle"),
    ("bad phone", request_body(phone="12345"), "phone"),
    ("landline", request_body(phone="0118 496 0000"), "phone"),
    ("bad enum", request_body(issue="exploded"), "issue"),
    ("latitude 91", request_body(location={"lat": 91, "lng": 0}), "location.lat"),
    ("a point in France", request_body(location={"lat": 50.95, "lng": 1.86}), "location"),
    ("a 10,000-character name", request_body(customer_name="x" * 10_000), "customer_name"),
    ("no location at all", request_body(location={}), "location"),
    ("unknown postcode area", request_body(location={"postcode": "ZZ99 9ZZ"}), "location"),
    ("not a postcode", request_body(location={"postcode": "HELLO"}), "location"),
]


@pytest.mark.parametrize(("case", "body", "field"), BAD, ids=[b[0] for b in BAD])
def test_bad_input_gets_field_message_and_stores_nothing(core: Core, api_server, case, body, field) -> None:
    r = httpx.post(f"{api_server.url}/api/v1/requests", json=body)
    assert r.status_code == 422, r.text
    fields = {d["field"]: d["message"] for d in r.json()["detail"]}
    assert field in fields and len(fields[field]) > 5, fields
    assert _count(core) == 0


@pytest.mark.parametrize(
    ("case", "content", "ctype", "code"),
    [
        ("empty body", b"", "application/json", 422),
        ("malformed JSON", b'{"customer_name": "A",', "application/json", 422),
        ("wrong content type", b"customer_name=A", "application/x-www-form-urlencoded", 415),
        ("a list instead of an object", b"[1,2]", "application/json", 422),
        ("1 MB body", b'{"notes":"' + b"a" * 1_000_000 + b'"}', "application/json", 413),
        ("deeply nested JSON", b"[" * 5000 + b"]" * 5000, "application/json", 400),
    ],
)
def test_malformed_requests_are_4xx(core: Core, api_server, case, content, ctype, code) -> None:
    r = httpx.post(f"{api_server.url}/api/v1/requests", content=content, headers={"content-type": ctype})
    assert r.status_code == code, (case, r.status_code, r.text[:300])
    assert "detail" in r.json()
    assert _count(core) == 0


def test_sql_injection_is_just_a_name(core: Core, api_server) -> None:
    name = "Robert'); DROP TABLE service_request;--"
    r = httpx.post(f"{api_server.url}/api/v1/requests", json=request_body(customer_name=name))
    assert r.status_code == 201
    with core.engine.connect() as c:
        assert c.execute(sa.text("SELECT customer_name FROM service_request")).scalar_one() == name


def test_postcode_location_is_marked_approximate(core: Core, api_server) -> None:
    r = httpx.post(f"{api_server.url}/api/v1/requests", json=request_body(location={"postcode": "rg1 1aa"}))
    assert r.status_code == 201, r.text
    assert r.json()["location_approximate"] is True


def test_unknown_token_is_404_and_cancel_rules(core: Core, api_server) -> None:
    assert httpx.get(f"{api_server.url}/api/v1/requests/track/not-a-token").status_code == 404
    tech = add_technicians(core, 1, seed=3)[0]
    made = httpx.post(f"{api_server.url}/api/v1/requests", json=request_body()).json()
    token = made["tracking_token"]
    job_action(core, as_technician(tech), made["id"], "en-route")
    job_action(core, as_technician(tech), made["id"], "arrived")
    r = httpx.post(f"{api_server.url}/api/v1/requests/track/{token}/cancel")
    assert r.status_code == 409 and "already with you" in r.json()["detail"]
    other = httpx.post(f"{api_server.url}/api/v1/requests", json=request_body()).json()
    assert other["status"] == "pending"  # the only technician is busy
    r = httpx.post(f"{api_server.url}/api/v1/requests/track/{other['tracking_token']}/cancel")
    assert r.status_code == 200 and r.json()["status"] == "cancelled"
    assert httpx.post(f"{api_server.url}/api/v1/requests/track/{other['tracking_token']}/cancel").status_code == 409
