"""The dispatcher API: roles, queue, reassignment, and two dispatchers racing for one request."""

from __future__ import annotations

import concurrent.futures as cf

import httpx

from core.context import Core
from tests.factories import add_staff, add_technicians, bearer, request_body


def test_roles(core: Core, api_server) -> None:
    tech = add_technicians(core, 1)[0]
    add_staff(core, "tess", "technician", tech_id=tech)
    h = bearer(api_server.url, "tess")
    for path in ("requests", "technicians", "live.geojson", "hexes.geojson", "alerts", "figures"):
        assert httpx.get(f"{api_server.url}/api/v1/dispatch/{path}", headers=h).status_code == 403, path
        assert httpx.get(f"{api_server.url}/api/v1/dispatch/{path}").status_code == 401, path


def test_queue_reassign_and_audit(core: Core, api_server) -> None:
    techs = add_technicians(core, 3, spread=0.02, seed=8)
    add_staff(core, "dana", "dispatcher")
    h = bearer(api_server.url, "dana")
    made = httpx.post(f"{api_server.url}/api/v1/requests", json=request_body()).json()
    q = httpx.get(f"{api_server.url}/api/v1/dispatch/requests", headers=h).json()
    assert [i["reference"] for i in q] == [made["reference"]], (
        "wanted [i['reference'] for i in q] == [made['reference']]"
    )
    assert q[0]["sla_state"] == "ok", "wanted q[0]['sla_state'] == 'ok'"
    detail = httpx.get(f"{api_server.url}/api/v1/dispatch/requests/{made['id']}", headers=h).json()
    current = detail["request"]["technician_id"]
    assert current in techs, "current missing from techs"
    assert len(detail["suggestions"]) == 2, "wanted len(detail['suggestions']) == 2"
    target = detail["suggestions"][0]["technician_id"]
    r = httpx.post(f"{api_server.url}/api/v1/dispatch/requests/{made['id']}/assign", headers=h,
                   json={"technician_id": target, "from_technician_id": current})
    assert r.status_code == 200, r.text
    after = r.json()
    assert after["request"]["technician_id"] == target
    tail = [(e["kind"], e["actor"]) for e in after["timeline"]][-2:]
    assert tail == [("unassigned", "Dana"), ("assigned", "Dana")]
    # The stale view of the same request is refused, not applied.
    stale = httpx.post(f"{api_server.url}/api/v1/dispatch/requests/{made['id']}/assign", headers=h,
                       json={"technician_id": current, "from_technician_id": current})
    assert stale.status_code == 409, f"wanted HTTP 409, got {stale.status_code}"
    assert "changed by someone else" in stale.json()["detail"], (
        "'changed by someone else' missing from stale.json()['detail']"
    )
    live = httpx.get(f"{api_server.url}/api/v1/dispatch/live.geojson", headers=h)
    ids = {f["properties"]["id"] for f in live.json()["features"]}
    assert f"r{made['id']}" in ids, "the new request is on the live map"
    assert {f"t{t}" for t in techs} <= ids, "wanted {f't{t}' for t in techs} <= ids"
    again = httpx.get(
        f"{api_server.url}/api/v1/dispatch/live.geojson", headers={**h, "If-None-Match": live.headers["etag"]}
    )
    assert again.status_code == 304
    weak = httpx.get(f"{api_server.url}/api/v1/dispatch/live.geojson",
                     headers={**h, "If-None-Match": f'"other", W/{live.headers["etag"]}'})
    assert weak.status_code == 304, "the tag a gzipping proxy weakened still matches (weak comparison)"


def test_two_dispatchers_same_request_one_wins(core: Core, api_server) -> None:
    add_technicians(core, 3, status="break", seed=6)  # nobody available: the request waits
    made = httpx.post(f"{api_server.url}/api/v1/requests", json=request_body()).json()
    assert made["status"] == "pending"
    import sqlalchemy as sa

    with core.engine.begin() as c:
        c.execute(sa.text("UPDATE technician SET status = 'available'"))
        ids = [r[0] for r in c.execute(sa.text("SELECT id FROM technician ORDER BY id LIMIT 2"))]
    core.index.ensure_built(force=True)
    add_staff(core, "d1", "dispatcher")
    add_staff(core, "d2", "dispatcher")
    heads = [bearer(api_server.url, "d1"), bearer(api_server.url, "d2")]

    def go(i: int) -> httpx.Response:
        return httpx.post(f"{api_server.url}/api/v1/dispatch/requests/{made['id']}/assign", headers=heads[i],
                          json={"technician_id": ids[i], "from_technician_id": None})

    with cf.ThreadPoolExecutor(2) as ex:
        codes = sorted(r.status_code for r in ex.map(go, range(2)))
    assert codes == [200, 409]
    with core.engine.connect() as c:
        busy = c.execute(sa.text("SELECT count(*) FROM technician WHERE status = 'assigned'")).scalar_one()
        assigned = c.execute(sa.text("SELECT count(*) FROM service_request WHERE status = 'assigned'")).scalar_one()
    assert busy == 1, f"busy is {busy!r}, wanted 1"
    assert assigned == 1, f"assigned is {assigned!r}, wanted 1"


def test_hexes_show_supply_demand_and_risk(core: Core, api_server) -> None:
    add_technicians(core, 4, seed=1)
    add_staff(core, "dora", "dispatcher")
    h = bearer(api_server.url, "dora")
    httpx.post(f"{api_server.url}/api/v1/requests", json=request_body())
    feats = httpx.get(f"{api_server.url}/api/v1/dispatch/hexes.geojson", headers=h).json()["features"]
    props = [f["properties"] for f in feats]
    assert sum(p["available"] for p in props) == 3, "wanted sum(p['available'] for p in props) == 3"
    assert sum(p["open"] for p in props) == 1, "wanted sum(p['open'] for p in props) == 1"
    # Reading is covered; Inverness, far from every van, is at risk.
    import h3

    reading = h3.latlng_to_cell(51.4545, -0.9781, 5)
    inverness = h3.latlng_to_cell(57.4778, -4.2247, 5)
    by_cell = {f["properties"]["id"]: f["properties"] for f in feats}
    assert by_cell[reading]["risk"] is False
    assert by_cell[inverness]["risk"] is True
