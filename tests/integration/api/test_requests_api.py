"""The public request API over real HTTP: submission, idempotency, bad input, tracking, cancel."""

from __future__ import annotations

import concurrent.futures as cf
import threading
from collections.abc import Callable
from functools import partial

import httpx
import pytest
import sqlalchemy as sa

from core.context import Core
from core.requests.duplicates import already_open_message
from core.technicians.jobs import job_action
from tests.factories import add_technicians, as_technician, random_mobile, request_body


def _count(core: Core) -> int:
    with core.engine.connect() as c:
        return c.execute(sa.text("SELECT count(*) FROM service_request")).scalar_one()


def test_submit_assigns_nearest_and_tracks(core: Core, api_server) -> None:
    add_technicians(core, 5, seed=1)
    r = httpx.post(f"{api_server.url}/api/v1/requests", json=request_body())
    assert r.status_code == 201, r.text
    body = r.json()
    assert body["status"] == "assigned", "wanted body['status'] == 'assigned'"
    assert body["technician"]["first_name"], "wanted body['technician']['first_name']"
    assert body["reference"].startswith("TH-"), "wanted body['reference'].startswith('TH-')"
    assert body["quote_pence"] > 0, "wanted body['quote_pence'] > 0"
    assert body["eta_minutes"] >= 8, "wanted body['eta_minutes'] >= 8"
    t = httpx.get(f"{api_server.url}/api/v1/requests/track/{body['tracking_token']}").json()
    assert t["status"] == "assigned", "wanted t['status'] == 'assigned'"
    assert t["technician_position"] is not None, "t['technician_position'] is missing"
    assert [e["kind"] for e in t["timeline"]] == ["created", "assigned"]


def test_idempotency_key_gives_one_request(core: Core, api_server) -> None:
    body = request_body()
    headers = {"Idempotency-Key": "tap-123"}
    with cf.ThreadPoolExecutor(8) as ex:
        answers = list(
            ex.map(lambda _: httpx.post(f"{api_server.url}/api/v1/requests", json=body, headers=headers), range(8))
        )
    assert all(a.status_code == 201 for a in answers)
    assert len({a.json()["id"] for a in answers}) == 1
    assert len({a.json()["tracking_token"] for a in answers}) == 1
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
    assert field in fields, fields
    assert len(fields[field]) > 5, fields
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
    assert r.json()["postcode"] == "RG1 1AA", "the answer carries the typed postcode, normalised"
    view = httpx.get(f"{api_server.url}/api/v1/requests/track/{r.json()['tracking_token']}").json()
    assert (view["postcode"], view["location_approximate"]) == ("RG1 1AA", True), "so does the tracking link"
    assert view["location_label"] == "RG1 1AA area (approximate)", "named by the postcode, not a village"


def test_a_pin_with_its_postcode_is_exact_over_the_api(core: Core, api_server) -> None:
    r = httpx.post(f"{api_server.url}/api/v1/requests",
                   json=request_body(location={"lat": 51.4550, "lng": -0.9690, "postcode": "RG1 1AA"}))
    assert r.status_code == 201, r.text
    assert (r.json()["location_approximate"], r.json()["postcode"]) == (False, "RG1 1AA"), "a pin is exact"


def test_a_bad_postcode_beside_a_pin_is_refused_on_that_field(core: Core, api_server) -> None:
    r = httpx.post(f"{api_server.url}/api/v1/requests",
                   json=request_body(location={"lat": 51.4550, "lng": -0.9690, "postcode": "XYZ"}))
    assert r.status_code == 422, r.text
    assert any(e["field"] == "location.postcode" for e in r.json()["detail"]), r.json()


def test_unknown_token_is_404_and_cancel_rules(core: Core, api_server) -> None:
    assert httpx.get(f"{api_server.url}/api/v1/requests/track/not-a-token").status_code == 404
    tech = add_technicians(core, 1, seed=3)[0]
    made = httpx.post(f"{api_server.url}/api/v1/requests", json=request_body()).json()
    token = made["tracking_token"]
    job_action(core, as_technician(tech), made["id"], "en-route")
    job_action(core, as_technician(tech), made["id"], "arrived")
    r = httpx.post(f"{api_server.url}/api/v1/requests/track/{token}/cancel")
    assert r.status_code == 409, f"wanted HTTP 409, got {r.status_code}"
    assert "already with you" in r.json()["detail"], "'already with you' missing from r.json()['detail']"
    other = httpx.post(f"{api_server.url}/api/v1/requests", json=request_body()).json()
    assert other["status"] == "pending"  # the only technician is busy
    r = httpx.post(f"{api_server.url}/api/v1/requests/track/{other['tracking_token']}/cancel")
    assert r.status_code == 200, f"wanted HTTP 200, got {r.status_code}"
    assert r.json()["status"] == "cancelled", "wanted r.json()['status'] == 'cancelled'"
    assert httpx.post(f"{api_server.url}/api/v1/requests/track/{other['tracking_token']}/cancel").status_code == 409


# --- Tracking links are not handed to strangers (issue 18, point 4) ---------------------------------------

def _stored(core: Core) -> tuple[int, int]:
    """Requests and timeline entries held (but the open request's `link_resent`, which texts its own number):
    what a refused submission must leave unchanged."""
    with core.engine.connect() as c:
        return (c.execute(sa.text("SELECT count(*) FROM service_request")).scalar_one(),
                c.execute(sa.text("SELECT count(*) FROM request_event WHERE kind <> 'link_resent'")).scalar_one())


def _post(url: str, body: dict, key: str | None = None) -> httpx.Response:
    return httpx.post(f"{url}/api/v1/requests", json=body, headers={"Idempotency-Key": key} if key else {}, timeout=30)


def _fields(r: httpx.Response) -> dict[str, str]:
    return {d["field"]: d["message"] for d in r.json()["detail"]}


def _at_once(calls: list[Callable[[], httpx.Response]]) -> list[httpx.Response]:
    """Every call from its own thread, released together."""
    gate = threading.Barrier(len(calls))

    def run(call: Callable[[], httpx.Response]) -> httpx.Response:
        gate.wait()
        return call()

    with cf.ThreadPoolExecutor(len(calls)) as ex:
        return list(ex.map(run, calls))


def _assert_tells_nothing_of(core: Core, r: httpx.Response, first: dict) -> None:
    for secret in (first["tracking_token"], first["reference"], first["location_label"]):
        assert secret not in r.text, secret
    if r.status_code == 409:  # the whole answer is the one message, the same for every number
        assert r.json() == {"detail": already_open_message(core)}


def test_another_client_with_the_same_phone_is_told_a_request_is_open_and_nothing_about_it(
    core: Core, api_server
) -> None:
    add_technicians(core, 2, seed=4)
    phone = random_mobile()
    first = _post(api_server.url, request_body(phone=phone, customer_name="First Driver")).json()
    before = _stored(core)
    # A stranger who knows the number, writing it another way, from another place, without a key.
    r = _post(api_server.url, request_body(phone=phone.replace(" ", ""), customer_name="Someone Else"))
    assert r.status_code == 409, r.text
    detail = r.json()["detail"]
    assert "already open" in detail, "'already open' missing from detail"
    assert core.settings.support_phone in detail, "core.settings.support_phone missing from detail"
    assert "texted its tracking link to that number" in detail, detail
    _assert_tells_nothing_of(core, r, first)
    assert _stored(core) == before
    with core.engine.connect() as c:
        texts = c.execute(sa.text("SELECT request_id, recipient, template FROM outbound_message"
                                  " WHERE template = 'tracking_link'")).all()
    assert [tuple(t) for t in texts] == [(first["id"], "customer", "tracking_link")], (
        "the promise on the 409 is kept: the link is texted to the open request's number, once")


def test_a_new_idempotency_key_is_another_client_even_with_the_same_body(core: Core, api_server) -> None:
    body = request_body()
    first = _post(api_server.url, body, key="form-1")
    assert first.status_code == 201
    r = _post(api_server.url, body, key="form-2")
    assert r.status_code == 409
    _assert_tells_nothing_of(core, r, first.json())
    assert _count(core) == 1


def test_a_replay_with_the_same_key_and_body_returns_the_original(core: Core, api_server) -> None:
    body = request_body(phone="07911 123456")
    first = _post(api_server.url, body, key="tap-1")
    # The same request written differently (number in E.164, a default spelled out, keys reordered) is the same body.
    same = dict(reversed(list({**body, "phone": "+447911123456", "vehicle_type": "car"}.items())))
    again = _post(api_server.url, same, key="tap-1")
    assert first.status_code == again.status_code == 201, again.text
    assert again.json()["id"] == first.json()["id"]
    assert again.json()["tracking_token"] == first.json()["tracking_token"]
    assert again.json()["duplicate"] is True, "wanted again.json()['duplicate'] is True"
    assert first.json()["duplicate"] is False, "wanted first.json()['duplicate'] is False"
    assert _count(core) == 1


@pytest.mark.parametrize("change", [{"notes": "and the spare is flat too"}, {"phone": "07812 300400"},
                                    {"location": {"lat": 53.48, "lng": -2.24}}, {"on_motorway": True}])
def test_a_used_key_with_another_body_is_a_422_on_the_key(core: Core, api_server, change) -> None:
    body = request_body()
    first = _post(api_server.url, body, key="reused")
    before = _stored(core)
    r = _post(api_server.url, {**body, **change}, key="reused")
    assert r.status_code == 422, r.text
    assert _fields(r) == {"idempotency_key": "This Idempotency-Key was already used with a different request body."}
    _assert_tells_nothing_of(core, r, first.json())
    assert _stored(core) == before


def test_a_key_stored_before_fingerprints_is_not_replayed(core: Core, api_server) -> None:
    body = request_body()
    first = _post(api_server.url, body, key="old-key").json()
    with core.engine.begin() as c:  # as a row stored before revision 0007 holds it
        c.execute(sa.text("UPDATE service_request SET idempotency_fingerprint = NULL"))
    r = _post(api_server.url, body, key="old-key")
    assert r.status_code == 422, f"wanted HTTP 422, got {r.status_code}"
    assert "send a new key" in _fields(r)["idempotency_key"], (
        "'send a new key' missing from _fields(r)['idempotency_key']"
    )
    _assert_tells_nothing_of(core, r, first)


def test_the_fingerprint_is_stored_only_with_a_key_and_is_not_a_plain_hash_of_the_body(core: Core, api_server) -> None:
    import hashlib

    from core.schemas import RequestCreate

    body = request_body()
    _post(api_server.url, body, key="k-1")
    _post(api_server.url, request_body())
    with core.engine.connect() as c:
        prints = dict(c.execute(sa.text("SELECT idempotency_key, idempotency_fingerprint FROM service_request")).all())
    assert prints[None] is None, "wanted prints[None] is None"
    assert len(prints["k-1"]) == 64, "wanted len(prints['k-1']) == 64"
    canonical = RequestCreate.model_validate(body).canonical_json()
    assert prints["k-1"] != hashlib.sha256(canonical.encode()).hexdigest()  # keyed: the number cannot be guessed back


def test_concurrent_submissions_for_one_phone_with_different_keys_make_exactly_one_request(
    core: Core, api_server
) -> None:
    add_technicians(core, 3, seed=6)
    for _round in range(3):
        phone = random_mobile()
        answers = _at_once([partial(_post, api_server.url, request_body(phone=phone), f"client-{_round}-{i}")
                            for i in range(6)])
        codes = sorted(a.status_code for a in answers)
        assert codes == [201] + [409] * 5, [a.text for a in answers]
        winner = next(a.json() for a in answers if a.status_code == 201)
        for a in answers:
            if a.status_code == 409:
                _assert_tells_nothing_of(core, a, winner)
        with core.engine.connect() as c:  # the one answered 201 is the one stored
            assert c.execute(sa.text("SELECT id FROM service_request WHERE idempotency_key LIKE :k"),
                             {"k": f"client-{_round}-%"}).scalars().all() == [winner["id"]]


def test_concurrent_reuse_of_one_key_with_different_bodies_stores_one_and_refuses_the_rest(
    core: Core, api_server
) -> None:
    # Different phones: no phone lock orders them, the key's unique index does.
    answers = _at_once([partial(_post, api_server.url, request_body(), "shared-key") for _ in range(6)])
    assert sorted(a.status_code for a in answers) == [201] + [422] * 5, [a.text for a in answers]
    assert _count(core) == 1


def test_a_number_may_ask_again_once_its_request_is_closed_or_past_the_window(core: Core, api_server) -> None:
    phone = random_mobile()
    first = _post(api_server.url, request_body(phone=phone)).json()
    httpx.post(f"{api_server.url}/api/v1/requests/track/{first['tracking_token']}/cancel").raise_for_status()
    second = _post(api_server.url, request_body(phone=phone))
    assert second.status_code == 201, f"wanted HTTP 201, got {second.status_code}"
    assert second.json()["tracking_token"] != first["tracking_token"], (
        "wanted second.json()['tracking_token'] != first['tracking_token']"
    )
    with core.engine.begin() as c:  # the open one was made longer ago than the duplicate window
        c.execute(sa.text("UPDATE service_request SET created_at = created_at - make_interval(secs => :s)"),
                  {"s": core.settings.duplicate_window_s + 1})
    third = _post(api_server.url, request_body(phone=phone))
    assert third.status_code == 201, f"wanted HTTP 201, got {third.status_code}"
    assert third.json()["id"] not in (first["id"], second.json()["id"]), (
        "third.json()['id'] should not be in (first['id'], second.json()['id'])"
    )


def _live(url: str, token: str) -> dict:
    r = httpx.get(f"{url}/api/v1/requests/track/{token}/live.geojson")
    assert r.status_code == 200, r.text
    return {f["properties"]["id"]: f for f in r.json()["features"]}


def _age_closing(core: Core, request_id: int, hours: float) -> None:
    with core.engine.begin() as c:
        c.execute(sa.text("UPDATE service_request SET completed_at = completed_at - make_interval(secs => :s),"
                          " cancelled_at = cancelled_at - make_interval(secs => :s) WHERE id = :id"),
                  {"s": hours * 3600, "id": request_id})


def _assert_expired_everywhere(url: str, token: str) -> None:
    for r in (httpx.get(f"{url}/api/v1/requests/track/{token}"),
              httpx.get(f"{url}/api/v1/requests/track/{token}/live.geojson"),
              httpx.get(f"{url}/map/track/{token}"),
              httpx.post(f"{url}/api/v1/requests/track/{token}/cancel")):
        assert r.status_code == 404, (r.request.url, r.status_code, r.text[:200])
        assert r.json()["detail"].startswith("This tracking link has expired")


def test_a_completed_request_shows_no_van_and_its_link_expires_a_day_later(core: Core, api_server) -> None:
    tech = add_technicians(core, 1, seed=7)[0]
    made = _post(api_server.url, request_body()).json()
    token = made["tracking_token"]
    assert set(_live(api_server.url, token)) == {"customer", "van"}
    for step in ("en-route", "arrived", "complete"):
        job_action(core, as_technician(tech), made["id"], step)
    view = httpx.get(f"{api_server.url}/api/v1/requests/track/{token}").json()
    assert view["status"] == "completed"
    assert view["technician_position"] is None, "wanted view['technician_position'] is None"
    assert view["eta_minutes"] is None, "wanted view['eta_minutes'] is None"
    assert view["technician"] is None, "wanted view['technician'] is None"
    assert set(_live(api_server.url, token)) == {"customer"}
    assert httpx.get(f"{api_server.url}/map/track/{token}").status_code == 200
    _age_closing(core, made["id"], 23.9)
    assert httpx.get(f"{api_server.url}/api/v1/requests/track/{token}").status_code == 200
    _age_closing(core, made["id"], 0.2)
    _assert_expired_everywhere(api_server.url, token)


def test_a_cancelled_request_shows_no_van_and_its_link_expires_a_day_later(core: Core, api_server) -> None:
    add_technicians(core, 1, seed=8)
    made = _post(api_server.url, request_body()).json()
    assert made["status"] == "assigned"
    token = made["tracking_token"]
    r = httpx.post(f"{api_server.url}/api/v1/requests/track/{token}/cancel")
    assert r.status_code == 200
    for view in (r.json(), httpx.get(f"{api_server.url}/api/v1/requests/track/{token}").json()):
        assert view["status"] == "cancelled", "wanted view['status'] == 'cancelled'"
        assert view["cancellable"] is False, "wanted view['cancellable'] is False"
        assert view["technician_position"] is None, "wanted view['technician_position'] is None"
        assert view["eta_minutes"] is None, "wanted view['eta_minutes'] is None"
        assert view["technician"] is None, "wanted view['technician'] is None"
    assert set(_live(api_server.url, token)) == {"customer"}
    _age_closing(core, made["id"], 24.01)
    _assert_expired_everywhere(api_server.url, token)
