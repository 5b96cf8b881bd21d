"""In production an admin or dispatcher cannot sign in with a password alone, on the page or the API."""

from __future__ import annotations

import time

import httpx
import pyotp
import pytest

from core.context import Core
from core.principal import Principal, Role
from core.staff import mfa
from tests.factories import add_staff
from tests.integration.api.test_two_factor_api import RIGHT, page_login, set_cookies


@pytest.fixture
def core(prod_core: Core) -> Core:
    """The API server of this module runs on production settings."""
    return prod_core


def enrolled_admin(core: Core, base: str, username: str = "root") -> tuple[dict[str, str], pyotp.TOTP]:
    """An admin set up from the command line (as the first admin is), and their bearer header."""
    uid = add_staff(core, username, "admin")
    who = Principal(uid, username, username, Role.ADMIN, None)
    totp = pyotp.TOTP(mfa.begin_enrolment(core, who).secret)
    mfa.confirm_enrolment(core, who, totp.now(), time.time())
    r = httpx.post(f"{base}/api/v1/auth/token",
                   json={"username": username, "password": RIGHT, "otp": totp.at(time.time() + 30)})
    assert r.status_code == 200, r.text
    return {"Authorization": f"Bearer {r.json()['access_token']}"}, totp


@pytest.mark.parametrize("role", ["admin", "dispatcher"])
def test_an_account_without_a_second_factor_cannot_sign_in_in_production(core: Core, api_server, role: str) -> None:
    base = api_server.url
    add_staff(core, "boss", role)
    r = httpx.post(f"{base}/api/v1/auth/token", json={"username": "boss", "password": RIGHT})
    assert r.status_code == 401, f"wanted HTTP 401, got {r.status_code}"
    assert r.json()["code"] == "two_factor_enrolment_required", (
        "wanted r.json()['code'] == 'two_factor_enrolment_required'"
    )
    assert "enrolment code" in r.json()["detail"]
    first = page_login(base, "boss")
    assert first.headers["location"].startswith("/login?step=enrol"), (
        "wanted first.headers['location'].startswith('/login?step=enrol')"
    )
    assert "th_session" not in set_cookies(first), "'th_session' should not be in set_cookies(first)"
    second = page_login(base, "boss", code="abcde-fghij-kmnpq")
    assert second.status_code == 303, f"wanted HTTP 303, got {second.status_code}"
    assert second.headers["location"].startswith("/login?step=enrol&error="), (
        "wanted second.headers['location'].startswith('/login?step=enrol&error=')"
    )
    assert "th_session" not in set_cookies(second)
    # A made-up code on the API is refused too (429 while the failure just above still makes this address wait).
    assert httpx.post(f"{base}/api/v1/auth/token",
                      json={"username": "boss", "password": RIGHT, "otp": "123456"}).status_code in (401, 429)


def test_a_technician_still_signs_in_with_a_password_in_production(core: Core, api_server) -> None:
    add_staff(core, "tina", "technician")
    r = httpx.post(f"{api_server.url}/api/v1/auth/token", json={"username": "tina", "password": RIGHT})
    assert r.status_code == 200


def test_a_new_dispatcher_is_brought_in_by_an_admin_in_production(core: Core, api_server) -> None:
    base = api_server.url
    root, _ = enrolled_admin(core, base)
    add_staff(core, "dana", "dispatcher")
    issued = httpx.post(f"{base}/auth/2fa/enrolment-codes", headers=root, json={"username": "dana"})
    assert issued.status_code == 201, f"wanted HTTP 201, got {issued.status_code}"
    assert issued.headers["cache-control"] == "no-store", "wanted issued.headers['cache-control'] == 'no-store'"
    code = issued.json()["enrolment_code"]

    # Dana signs in on the page with the code the admin read to her, and lands on the set-up page.
    signed_in = page_login(base, "dana", code=code)
    assert signed_in.status_code == 303, f"wanted HTTP 303, got {signed_in.status_code}"
    assert signed_in.headers["location"] == "/account", "wanted signed_in.headers['location'] == '/account'"
    session = set_cookies(signed_in)["th_session"]
    # production: the cookie never travels over plain HTTP
    assert session["secure"], "wanted session['secure']"
    assert session["httponly"], "wanted session['httponly']"
    h = {"Cookie": f"th_session={session['value']}"}
    totp = pyotp.TOTP(httpx.post(f"{base}/auth/2fa/start", headers=h).json()["secret"])
    assert (
        len(httpx.post(f"{base}/auth/2fa/confirm", headers=h, json={"code": totp.now()}).json()["recovery_codes"]) == 10
    )
    # From now on: password and code; the enrolment code is spent.
    ok = httpx.post(f"{base}/api/v1/auth/token",
                    json={"username": "dana", "password": RIGHT, "otp": totp.at(time.time() + 30)})
    assert ok.status_code == 200, f"wanted HTTP 200, got {ok.status_code}"
    assert ok.json()["role"] == "dispatcher", "wanted ok.json()['role'] == 'dispatcher'"
    assert httpx.post(f"{base}/api/v1/auth/token",
                      json={"username": "dana", "password": RIGHT, "recovery_code": code}).status_code == 401


def test_an_admin_resets_a_dispatchers_lost_phone_in_production(core: Core, api_server) -> None:
    base = api_server.url
    root, _ = enrolled_admin(core, base)
    dana_id = add_staff(core, "dana", "dispatcher")
    dana = Principal(dana_id, "dana", "Dana", Role.DISPATCHER, None)
    totp = pyotp.TOTP(mfa.begin_enrolment(core, dana).secret)
    mfa.confirm_enrolment(core, dana, totp.now(), time.time())
    r = httpx.post(f"{base}/auth/2fa/reset", headers=root, json={"username": "dana"})
    assert r.status_code == 200
    assert page_login(base, "dana", code=r.json()["enrolment_code"]).headers["location"] == "/account"
    assert httpx.post(f"{base}/auth/2fa/reset", headers=root, json={"username": "nobody"}).status_code == 404
