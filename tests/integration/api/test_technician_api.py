"""Staff logins and the technician API over real HTTP."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import httpx
import sqlalchemy as sa

from core.context import Core
from tests.factories import add_staff, add_technicians, bearer, request_body


def test_wrong_password_is_401_then_throttled(core: Core, api_server) -> None:
    add_staff(core, "dana", "dispatcher")
    url = f"{api_server.url}/api/v1/auth/token"
    # Each failure of one (username, address) makes the next try wait: 1 s, 2 s, 4 s ... (core.staff.login_throttle).
    # Tried back to back, a try lands inside the wait: at once on a quiet machine; a busy one (a password hash
    # takes longer) may let the first wait pass, never the doubled ones.
    codes: list[int] = []
    while len(codes) < 4 and 429 not in codes:
        codes.append(httpx.post(url, json={"username": "dana", "password": "wrong"}).status_code)
    assert codes[0] == 401, codes
    assert codes[-1] == 429 and set(codes[:-1]) == {401}, f"{codes}: wrong passwords are refused, then throttled"
    r = httpx.post(url, json={"username": "dana", "password": "correct horse battery"})
    assert r.status_code == 429, f"wanted HTTP 429, got {r.status_code}"
    assert int(r.headers["Retry-After"]) > 0, "wanted int(r.headers['Retry-After']) > 0"
    assert "second" in r.json()["detail"], "'second' missing from r.json()['detail']"
    # An unknown account answers exactly like a wrong password.
    assert httpx.post(url, json={"username": "nobody", "password": "x"}).json() == {
        "detail": "Wrong username or password."
    }


def test_logout_revokes_the_token(core: Core, api_server) -> None:
    tech = add_technicians(core, 1)[0]
    add_staff(core, "tina", "technician", tech_id=tech)
    h = bearer(api_server.url, "tina")
    assert httpx.get(f"{api_server.url}/api/v1/technicians/me/job", headers=h).status_code == 200
    assert httpx.post(f"{api_server.url}/api/v1/auth/logout", headers=h).status_code == 204
    assert httpx.get(f"{api_server.url}/api/v1/technicians/me/job", headers=h).status_code == 401
    assert httpx.get(f"{api_server.url}/api/v1/technicians/me/job").status_code == 401


def test_technician_runs_own_job_only(core: Core, api_server) -> None:
    a, b = add_technicians(core, 2, spread=0.001, seed=4)
    add_staff(core, "anna", "technician", tech_id=a)
    add_staff(core, "ben", "technician", tech_id=b)
    ha, hb = bearer(api_server.url, "anna"), bearer(api_server.url, "ben")
    made = httpx.post(
        f"{api_server.url}/api/v1/requests", json=request_body(location={"lat": 51.4545, "lng": -0.9781})
    ).json()
    owner, other = (
        (ha, hb) if httpx.get(f"{api_server.url}/api/v1/technicians/me/job", headers=ha).json()["job"] else (hb, ha)
    )
    job = httpx.get(f"{api_server.url}/api/v1/technicians/me/job", headers=owner).json()["job"]
    assert job["id"] == made["id"], "wanted job['id'] == made['id']"
    assert job["customer_phone"].startswith("+447"), "wanted job['customer_phone'].startswith('+447')"
    assert "google.com/maps" in job["navigate_url"], "'google.com/maps' missing from job['navigate_url']"
    assert httpx.post(f"{api_server.url}/api/v1/jobs/{made['id']}/accept", headers=other).status_code == 404
    # A position report tells each phone which job it holds, so it need not ask after every one.
    here = {"lat": 51.45, "lng": -0.97, "recorded_at": datetime.now(UTC).isoformat()}
    for h, want in ((owner, made["id"]), (other, None)):
        r = httpx.post(f"{api_server.url}/api/v1/technicians/me/location", headers=h, json=here)
        assert r.status_code == 200, f"wanted HTTP 200, got {r.status_code}"
        assert r.json() == {"accepted": 1, "job_id": want}, "wanted r.json() == {'accepted': 1, 'job_id': want}"
    assert httpx.post(f"{api_server.url}/api/v1/jobs/{made['id']}/arrived", headers=owner).status_code == 409
    for step in ("accept", "en-route", "arrived"):
        assert httpx.post(f"{api_server.url}/api/v1/jobs/{made['id']}/{step}", headers=owner).status_code == 200
    done = httpx.post(f"{api_server.url}/api/v1/jobs/{made['id']}/complete", headers=owner,
                      json={"fitted": "1 x 205/55 R16", "note": "nail in tread"})
    assert done.status_code == 200, f"wanted HTTP 200, got {done.status_code}"
    assert done.json()["job"] is None, "wanted done.json()['job'] is None"
    later = {**here, "recorded_at": datetime.now(UTC).isoformat()}
    assert (
        httpx.post(f"{api_server.url}/api/v1/technicians/me/location", headers=owner, json=later).json()["job_id"]
        is None
    )
    assert httpx.get(f"{api_server.url}/api/v1/requests/track/{made['tracking_token']}").json()["status"] == "completed"


def test_position_batch_out_of_order_keeps_newest(core: Core, api_server) -> None:
    tech = add_technicians(core, 1)[0]
    add_staff(core, "pat", "technician", tech_id=tech)
    h = bearer(api_server.url, "pat")
    t0 = datetime.now(UTC)
    batch = [
        {"lat": 52.0, "lng": -1.0, "accuracy_m": 5, "recorded_at": (t0 - timedelta(seconds=10)).isoformat()},
        {"lat": 52.2, "lng": -1.2, "accuracy_m": 5, "recorded_at": t0.isoformat()},
        {"lat": 52.1, "lng": -1.1, "accuracy_m": 5, "recorded_at": (t0 - timedelta(seconds=20)).isoformat()},
    ]
    r = httpx.post(f"{api_server.url}/api/v1/technicians/me/location", headers=h, json=batch)
    assert r.status_code == 200, f"wanted HTTP 200, got {r.status_code}"
    assert r.json() == {"accepted": 3, "job_id": None}, "wanted r.json() == {'accepted': 3, 'job_id': None}"
    late = {"lat": 53.0, "lng": -2.0, "recorded_at": (t0 - timedelta(seconds=60)).isoformat()}
    assert httpx.post(f"{api_server.url}/api/v1/technicians/me/location", headers=h, json=late).status_code == 200
    with core.engine.connect() as c:
        lat, lng = c.execute(sa.text("SELECT lat, lng FROM technician WHERE id = :i"), {"i": tech}).one()
        pings = c.execute(sa.text("SELECT count(*) FROM location_ping WHERE technician_id = :i"), {"i": tech}).scalar()
    assert (lat, lng) == (52.2, -1.2), "wanted (lat, lng) == (52.2, -1.2)"
    assert pings == 4, f"pings is {pings!r}, wanted 4"
    snap = core.index.primary.get(tech)
    assert snap is not None, "snap is missing"
    assert (snap.lat, snap.lng) == (52.2, -1.2), "wanted (snap.lat, snap.lng) == (52.2, -1.2)"
    future = {"lat": 52.0, "lng": -1.0, "recorded_at": (t0 + timedelta(hours=1)).isoformat()}
    assert httpx.post(f"{api_server.url}/api/v1/technicians/me/location", headers=h, json=future).status_code == 422


def test_dispatcher_cannot_use_technician_endpoints(core: Core, api_server) -> None:
    add_staff(core, "disp", "dispatcher")
    h = bearer(api_server.url, "disp")
    assert httpx.get(f"{api_server.url}/api/v1/technicians/me/job", headers=h).status_code == 403


def test_status_toggle_and_illegal_move(core: Core, api_server) -> None:
    tech = add_technicians(core, 1)[0]
    add_staff(core, "sam", "technician", tech_id=tech)
    h = bearer(api_server.url, "sam")
    url = f"{api_server.url}/api/v1/technicians/me/status"
    assert httpx.post(url, headers=h, json={"status": "break"}).json() == {"status": "break"}
    assert core.index.primary.get(tech).status == "break"  # type: ignore[union-attr]
    assert httpx.post(url, headers=h, json={"status": "offline"}).json() == {"status": "offline"}
    assert core.index.primary.get(tech) is None  # off shift: out of the index
    assert httpx.post(url, headers=h, json={"status": "en_route"}).status_code == 422


def test_a_glitched_fix_is_stored_as_history_and_never_fails(core: Core, api_server) -> None:
    """A fix the index cannot hold (past 85 degrees) is kept in the history; the index keeps the
    last good position, which ages out of offers; the phone gets a 200, not a 500."""
    tech = add_technicians(core, 1, seed=8)[0]
    add_staff(core, "gus", "technician", tech_id=tech)
    h = bearer(api_server.url, "gus")
    good = core.index.primary.get(tech)
    glitch = {"lat": 89.9, "lng": 10.0, "recorded_at": datetime.now(UTC).isoformat()}
    r = httpx.post(f"{api_server.url}/api/v1/technicians/me/location", headers=h, json=glitch)
    assert r.status_code == 200, f"wanted HTTP 200, got {r.status_code}"
    assert r.json()["accepted"] == 1, "wanted r.json()['accepted'] == 1"
    snap = core.index.primary.get(tech)
    assert good is not None, "good is missing"
    assert snap is not None, "snap is missing"
    assert (snap.lat, snap.lng) == (good.lat, good.lng), "wanted (snap.lat, snap.lng) == (good.lat, good.lng)"
    assert core.index.redis_ok  # not taken for a Redis outage
