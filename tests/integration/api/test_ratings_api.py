"""`POST /api/v1/ratings/{token}` over real HTTP: the same rules as the rating page, clear 4xx answers."""

from __future__ import annotations

import httpx
import sqlalchemy as sa

from core.context import Core
from core.requests.rating import rating_token
from core.technicians.jobs import job_action
from tests.factories import add_technicians, as_technician, request_body


def _submitted(core: Core, base: str) -> tuple[int, int, str]:
    """A request submitted over the API: its id, its technician and its rating token."""
    add_technicians(core, 1, seed=5, spread=0.01)
    r = httpx.post(f"{base}/api/v1/requests", json=request_body(location={"lat": 51.4545, "lng": -0.9781}))
    assert r.status_code == 201, r.text
    with core.engine.connect() as c:
        rid, tid, public_id = c.execute(sa.text(
            "SELECT id, technician_id, public_id FROM service_request WHERE id = :i"), {"i": r.json()["id"]}).one()
    return rid, tid, rating_token(core, public_id)


def _complete(core: Core, rid: int, tid: int) -> None:
    for step in ("accept", "en-route", "arrived", "complete"):
        job_action(core, as_technician(tid), rid, step)


def test_a_completed_visit_is_rated_once_over_the_api(core: Core, api_server) -> None:
    rid, tid, token = _submitted(core, api_server.url)
    _complete(core, rid, tid)
    url = f"{api_server.url}/api/v1/ratings/{token}"
    r = httpx.post(url, json={"stars": 5, "comment": "Brilliant, thank you"})
    assert r.status_code == 201, r.text
    got = r.json()
    assert (got["stars"], got["comment"], got["can_rate"]) == (5, "Brilliant, thank you", False), got
    again = httpx.post(url, json={"stars": 1})
    assert again.status_code == 409, again.text
    assert "already rated 5 of 5" in again.json()["detail"], again.json()
    shown = httpx.get(url)
    assert shown.status_code == 200 and shown.json()["stars"] == 5, shown.text


def test_an_open_request_gets_a_409_that_says_why(core: Core, api_server) -> None:
    _rid, _tid, token = _submitted(core, api_server.url)
    r = httpx.post(f"{api_server.url}/api/v1/ratings/{token}", json={"stars": 4})
    assert r.status_code == 409, r.text
    assert "once the job is completed" in r.json()["detail"], r.json()


def test_bad_stars_and_long_comments_are_422_per_field(core: Core, api_server) -> None:
    rid, tid, token = _submitted(core, api_server.url)
    _complete(core, rid, tid)
    url = f"{api_server.url}/api/v1/ratings/{token}"
    for body, field, words in (({"stars": 9}, "stars", "1 to 5 stars"), ({}, "stars", "required"),
                               ({"stars": 3, "comment": "x" * 501}, "comment", "500"),
                               ({"stars": 3, "tip": 1}, "tip", "unknown field")):
        r = httpx.post(url, json=body)
        assert r.status_code == 422, (body, r.text)
        detail = {d["field"]: d["message"] for d in r.json()["detail"]}
        assert words in detail.get(field, ""), (body, detail)
    with core.engine.connect() as c:
        assert c.execute(sa.text("SELECT count(*) FROM rating")).scalar_one() == 0, "nothing stored from bad input"


def test_an_unknown_link_is_a_404_with_words(core: Core, api_server) -> None:
    r = httpx.post(f"{api_server.url}/api/v1/ratings/not-a-real-token", json={"stars": 5})
    assert r.status_code == 404, r.text
    assert "whole link" in r.json()["detail"], r.json()
