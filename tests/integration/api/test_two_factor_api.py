"""Two-factor sign-in over real HTTP: enrolment, the token route and the login page's two steps."""

from __future__ import annotations

import time
from http.cookies import SimpleCookie

import httpx
import pyotp

from core.context import Core
from tests.factories import add_staff, bearer

RIGHT = "correct horse battery"


def set_cookies(r: httpx.Response) -> dict[str, dict[str, str]]:
    """Cookies a response sets: name -> {"value": ..., and its attributes}, whatever the scheme."""
    out: dict[str, dict[str, str]] = {}
    for header in r.headers.get_list("set-cookie"):
        jar: SimpleCookie = SimpleCookie()
        jar.load(header)
        for name, m in jar.items():
            out[name] = {"value": m.value, **{k: str(v) for k, v in m.items() if v}}
    return out


def page_login(base: str, username: str, code: str | None = None, next_path: str = "/dispatch") -> httpx.Response:
    """The login page's form, then (when a code is given and asked for) its second step; the last answer."""
    r = httpx.post(f"{base}/auth/login", data={"username": username, "password": RIGHT, "next": next_path})
    challenge = set_cookies(r).get("th_login")
    if code is None or challenge is None:
        return r
    return httpx.post(f"{base}/auth/login/code", data={"code": code, "next": next_path},
                      headers={"Cookie": f"th_login={challenge['value']}"})


def test_enrolment_end_to_end_over_http(core: Core, api_server) -> None:
    base = api_server.url
    add_staff(core, "tina", "technician")
    h = bearer(base, "tina")
    assert httpx.get(f"{base}/auth/2fa", headers=h).json() == {
        "enabled": False, "pending": False, "required": False, "recovery_codes_left": 0}
    started = httpx.post(f"{base}/auth/2fa/start", headers=h)
    assert started.status_code == 200, f"wanted HTTP 200, got {started.status_code}"
    assert started.headers["cache-control"] == "no-store", "wanted started.headers['cache-control'] == 'no-store'"
    setup = started.json()
    assert setup["otpauth_uri"].startswith("otpauth://totp/TyreHero:tina?secret=" + setup["secret"])
    assert setup["qr_svg"].startswith("<svg")
    qr = httpx.get(f"{base}/auth/2fa/qr.svg", headers=h)
    assert qr.status_code == 200, f"wanted HTTP 200, got {qr.status_code}"
    assert qr.headers["content-type"] == "image/svg+xml", "wanted qr.headers['content-type'] == 'image/svg+xml'"
    totp = pyotp.TOTP(setup["secret"])
    confirmed = httpx.post(f"{base}/auth/2fa/confirm", headers=h, json={"code": totp.now()})
    assert confirmed.status_code == 200, confirmed.text
    recovery = confirmed.json()["recovery_codes"]
    assert len(recovery) == 10, "wanted len(recovery) == 10"
    assert httpx.get(f"{base}/auth/2fa", headers=h).json()["enabled"] is True, (
        "wanted httpx.get(f'{base}/auth/2fa', headers=h).json()['enabled'] is True"
    )
    assert httpx.get(f"{base}/auth/2fa/qr.svg", headers=h).status_code == 404

    url = f"{base}/api/v1/auth/token"
    missing = httpx.post(url, json={"username": "tina", "password": RIGHT})
    assert missing.status_code == 401, f"wanted HTTP 401, got {missing.status_code}"
    assert missing.json()["code"] == "two_factor_required", "wanted missing.json()['code'] == 'two_factor_required'"
    assert "6-digit code" in missing.json()["detail"]
    # The next step's code (within the drift allowed): the confirming code itself is spent.
    ok = httpx.post(url, json={"username": "tina", "password": RIGHT, "otp": totp.at(time.time() + 30)})
    assert ok.status_code == 200, ok.text
    assert (
        httpx.post(url, json={"username": "tina", "password": RIGHT, "recovery_code": recovery[0]}).status_code == 200
    )
    bad = httpx.post(url, json={"username": "tina", "password": RIGHT, "otp": "12345", "recovery_code": recovery[1]})
    assert bad.status_code == 422

    # The login page: the password first, then the code on its own step; the cookie only at the end.
    first = page_login(base, "tina")
    assert first.status_code == 303, f"wanted HTTP 303, got {first.status_code}"
    assert first.headers["location"].startswith("/login?step=code"), (
        "wanted first.headers['location'].startswith('/login?step=code')"
    )
    assert "th_session" not in set_cookies(first), "'th_session' should not be in set_cookies(first)"
    assert set_cookies(first)["th_login"]["httponly"], "wanted set_cookies(first)['th_login']['httponly']"
    second = page_login(base, "tina", code=recovery[1], next_path="/tech")
    assert second.status_code == 303, f"wanted HTTP 303, got {second.status_code}"
    assert second.headers["location"] == "/tech", "wanted second.headers['location'] == '/tech'"
    cookie = set_cookies(second)["th_session"]["value"]
    assert httpx.get(f"{base}/auth/2fa", headers={"Cookie": f"th_session={cookie}"}).json()["recovery_codes_left"] == 8

    # A spent recovery code is refused, on both routes.
    again = httpx.post(url, json={"username": "tina", "password": RIGHT, "recovery_code": recovery[0]})
    assert again.status_code == 401, f"wanted HTTP 401, got {again.status_code}"
    assert "code is not right" in again.json()["detail"], "'code is not right' missing from again.json()['detail']"


def test_a_technician_turns_two_factor_off_with_a_current_code(core: Core, api_server) -> None:
    base = api_server.url
    add_staff(core, "tina", "technician")
    h = bearer(base, "tina")
    totp = pyotp.TOTP(httpx.post(f"{base}/auth/2fa/start", headers=h).json()["secret"])
    assert httpx.post(f"{base}/auth/2fa/confirm", headers=h, json={"code": totp.now()}).status_code == 200
    assert (
        httpx.post(f"{base}/auth/2fa/disable", headers=h, json={"code": totp.at(time.time() + 30)}).status_code == 204
    )
    assert httpx.post(f"{base}/api/v1/auth/token", json={"username": "tina", "password": RIGHT}).status_code == 200


def test_a_wrong_code_neither_confirms_nor_turns_off_two_factor(core: Core, api_server) -> None:
    base = api_server.url
    add_staff(core, "tina", "technician")
    h = bearer(base, "tina")
    totp = pyotp.TOTP(httpx.post(f"{base}/auth/2fa/start", headers=h).json()["secret"])
    wrong = f"{(int(totp.now()) + 500_000) % 1_000_000:06d}"
    r = httpx.post(f"{base}/auth/2fa/confirm", headers=h, json={"code": wrong})
    assert r.status_code == 422, f"wanted HTTP 422, got {r.status_code}"
    assert r.json()["detail"][0]["field"] == "code", "wanted r.json()['detail'][0]['field'] == 'code'"
    # Counted like a failed login: an immediate second guess must wait.
    assert httpx.post(f"{base}/auth/2fa/confirm", headers=h, json={"code": totp.now()}).status_code == 429
    assert httpx.get(f"{base}/auth/2fa", headers=h).json()["enabled"] is False


def test_the_login_page_second_step_needs_its_challenge(core: Core, api_server) -> None:
    r = httpx.post(f"{api_server.url}/auth/login/code", data={"code": "123456", "next": "/dispatch"})
    assert r.status_code == 303, f"wanted HTTP 303, got {r.status_code}"
    assert "took%20too%20long" in r.headers["location"], "'took%20too%20long' missing from r.headers['location']"
    forged = httpx.post(
        f"{api_server.url}/auth/login/code", data={"code": "123456"}, headers={"Cookie": "th_login=abc"}
    )
    assert "th_session" not in set_cookies(forged)


def test_two_factor_routes_need_a_session_and_admin_routes_an_admin(core: Core, api_server) -> None:
    base = api_server.url
    assert httpx.post(f"{base}/auth/2fa/start").status_code == 401
    add_staff(core, "dana", "dispatcher")
    h = bearer(base, "dana")
    assert httpx.post(f"{base}/auth/2fa/enrolment-codes", headers=h, json={"username": "dana"}).status_code == 403
    assert httpx.post(f"{base}/auth/2fa/reset", headers=h, json={"username": "dana"}).status_code == 403
