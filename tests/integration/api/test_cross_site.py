"""CORS and cross-site refusal (CSRF) over real HTTP: other sites neither read our answers nor act with a
staff member's cookie; bearer-token clients are unaffected."""

from __future__ import annotations

import httpx
import pytest
import sqlalchemy as sa

from core.context import Core
from tests.factories import add_staff, bearer, request_body
from tests.integration.api.edge_support import EVIL, PARTNER, configure, own_origin, page_login


def sessions(core: Core) -> int:
    with core.engine.connect() as c:
        return c.execute(sa.text("SELECT count(*) FROM auth_session")).scalar_one()


def _preflight(server, origin: str) -> httpx.Response:  # type: ignore[no-untyped-def]
    return httpx.options(f"{server.url}/api/v1/requests", headers={
        "Origin": origin, "Access-Control-Request-Method": "POST", "Access-Control-Request-Headers": "content-type"})


def test_by_default_no_other_site_may_read_our_answers(core: Core, api_server) -> None:
    assert "access-control-allow-origin" not in _preflight(api_server, EVIL).headers
    r = httpx.get(f"{api_server.url}/health", headers={"Origin": EVIL, "Cookie": "th_session=x"})
    assert "access-control-allow-origin" not in r.headers


@pytest.fixture
def partner(core: Core) -> Core:
    return configure(core, cors_origins=(PARTNER,))


def test_a_configured_origin_may_call_the_api_and_no_other(partner: Core, api_server) -> None:
    ok = _preflight(api_server, PARTNER)
    assert ok.status_code == 200
    assert ok.headers["access-control-allow-origin"] == PARTNER
    assert ok.headers["access-control-allow-credentials"] == "true"
    refused = _preflight(api_server, EVIL)
    assert refused.status_code == 400, f"wanted HTTP 400, got {refused.status_code}"
    assert "access-control-allow-origin" not in refused.headers, (
        "'access-control-allow-origin' should not be in refused.headers"
    )
    r = httpx.post(f"{api_server.url}/api/v1/requests", json=request_body(), headers={"Origin": PARTNER})
    assert r.status_code == 201, f"wanted HTTP 201, got {r.status_code}"
    assert r.headers["access-control-allow-origin"] == PARTNER, (
        "wanted r.headers['access-control-allow-origin'] == PARTNER"
    )


def test_a_login_form_posted_from_another_site_is_refused(core: Core, api_server) -> None:
    add_staff(core, "dana", "dispatcher")
    for headers in ({"Origin": EVIL}, {"Sec-Fetch-Site": "cross-site"}, {"Origin": "null"}):
        r = httpx.post(f"{api_server.url}/auth/login", data={"username": "dana", "password": "correct horse battery"},
                       headers=headers, follow_redirects=False)
        assert r.status_code == 403, headers
        assert "another site" in r.json()["detail"]
        assert "set-cookie" not in r.headers
    assert sessions(core) == 0


def test_our_own_login_form_still_logs_in(core: Core, api_server) -> None:
    add_staff(core, "dana", "dispatcher")
    r = page_login(api_server, "dana", own_origin(api_server))
    assert r.status_code == 303, f"wanted HTTP 303, got {r.status_code}"
    assert r.cookies.get("th_session"), "wanted r.cookies.get('th_session')"
    # What Chromium sends for our form under Referrer-Policy: no-referrer.
    r = httpx.post(f"{api_server.url}/auth/login", data={"username": "dana", "password": "correct horse battery"},
                   headers={"Origin": "null", "Sec-Fetch-Site": "same-origin"}, follow_redirects=False)
    assert r.status_code == 303, f"wanted HTTP 303, got {r.status_code}"
    assert r.cookies.get("th_session"), "wanted r.cookies.get('th_session')"
    assert sessions(core) == 2


def test_a_cookie_session_cannot_be_driven_from_another_site(core: Core, api_server) -> None:
    add_staff(core, "dana", "dispatcher")
    cookie = page_login(api_server, "dana", own_origin(api_server)).cookies["th_session"]
    made = httpx.post(f"{api_server.url}/api/v1/requests", json=request_body()).json()
    jar = {"Cookie": f"th_session={cookie}"}
    note = f"{api_server.url}/api/v1/dispatch/requests/{made['id']}/notes"
    for foreign in ({"Origin": EVIL}, {"Sec-Fetch-Site": "cross-site"}, {"Sec-Fetch-Site": "same-site"}):
        r = httpx.post(note, json={"text": "sent from evil"}, headers={**jar, **foreign})
        assert r.status_code == 403, foreign
        assert "another site" in r.json()["detail"], foreign
        assert httpx.post(f"{api_server.url}/api/v1/auth/logout", headers={**jar, **foreign}).status_code == 403
    with core.engine.connect() as c:
        notes = c.execute(sa.text("SELECT data->>'text' FROM request_event WHERE kind = 'note'")).scalars().all()
    assert notes == []
    # Reading is not refused (CORS keeps the answer from the other site) and the session is still alive.
    assert httpx.get(f"{api_server.url}/api/v1/dispatch/requests", headers={**jar, "Origin": EVIL}).status_code == 200
    ours = httpx.post(note, json={"text": "from our console"}, headers={**jar, "Origin": own_origin(api_server),
                                                                         "Sec-Fetch-Site": "same-origin"})
    assert ours.status_code == 200
    with core.engine.connect() as c:
        notes = c.execute(sa.text("SELECT data->>'text' FROM request_event WHERE kind = 'note'")).scalars().all()
    assert notes == ["from our console"]


def test_a_bearer_token_is_not_subject_to_the_cookie_check(core: Core, api_server) -> None:
    add_staff(core, "dana", "dispatcher")
    auth = bearer(api_server.url, "dana")
    r = httpx.post(f"{api_server.url}/api/v1/auth/logout", headers={**auth, "Origin": EVIL, "Cookie": "th_session=x"})
    assert r.status_code == 204


def test_a_configured_origin_may_post_with_the_cookie(partner: Core, api_server) -> None:
    add_staff(partner, "dana", "dispatcher")
    cookie = page_login(api_server, "dana", own_origin(api_server)).cookies["th_session"]
    r = httpx.post(
        f"{api_server.url}/api/v1/auth/logout", headers={"Cookie": f"th_session={cookie}", "Origin": PARTNER}
    )
    assert r.status_code == 204
