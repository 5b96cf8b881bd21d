"""Attack the pages' event handlers over a real websocket, as a script would (no browser, no page load).

Every protected handler is sent, with arguments that would do harm, as an anonymous visitor, with a
forged cookie, as a technician, as a dispatcher, from a tab whose session was logged out and from
one whose account was deactivated. Each call must be refused (a redirect to /login, or "Your account
cannot do this."), no row of accounts, technicians, prices, requests, timelines or audit may change,
and no customer's name or phone number may come back in any update.
"""

from __future__ import annotations

import json
import secrets
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any

import httpx
import pytest
import socketio
import sqlalchemy as sa

from core.principal import Principal, Role
from tests.factories import add_staff, random_mobile
from tyrehero_app.guard import CANNOT, app_states

PASSWORD = "correct horse battery"
NAME = "Zebedee Quillfeather"


def phone_forms(phone: str) -> tuple[str, ...]:
    """The ways a UK mobile could be written back in an update."""
    digits = phone.replace(" ", "")
    return phone, digits, "+44" + digits[1:], digits[1:], f"{digits[:5]} {digits[5:]}"


@dataclass
class Targets:
    request_id: int
    tech_id: int
    other_tech_id: int
    admin_id: int
    tag: str
    phone: str


# Who may call each protected handler (an oracle independent of the code's declarations), and what an
# attacker would send to it. A new protected handler must be added here.
ADMIN, STAFF, TECH, ANY_ACCOUNT = (
    {"admin"},
    {"admin", "dispatcher"},
    {"technician"},
    {"admin", "dispatcher", "technician"},
)
ALLOWED = {"AdminState": ADMIN, "DispatchState": STAFF, "TechState": TECH, "AccountState": ANY_ACCOUNT,
           "AccountState.issue_code": ADMIN, "AccountState.reset_other": ADMIN}


def allowed_roles(short: str) -> set[str]:
    return ALLOWED.get(short, ALLOWED[short.split(".")[0]])


ATTACKS: dict[str, Callable[[Targets], dict[str, Any]]] = {
    "AdminState.load": lambda t: {},
    "AdminState.create_technician": lambda t: {"form": {"name": "Mallory Van", "van_reg": "MAL 1", "van_label": "x",
                                                        "username": "mallory-tech", "password": "mallory-password-1"}},
    "AdminState.search_technicians": lambda t: {"form": {"q": "a", "status": ""}},
    "AdminState.technicians_page": lambda t: {"page": 2},
    "AdminState.search_staff": lambda t: {"form": {"q": "a", "role": ""}},
    "AdminState.staff_page_to": lambda t: {"page": 2},
    "AdminState.ask_technician_active": lambda t: {"tech_id": t.tech_id, "active": False},
    "AdminState.ask_staff_active": lambda t: {"user_id": t.admin_id, "active": False},
    "AdminState.confirm_pending": lambda t: {},
    "AdminState.cancel_pending": lambda t: {},
    "AdminState.create_staff": lambda t: {"form": {"username": "mallory", "display_name": "Mallory", "role": "admin",
                                                   "password": "mallory-password-1"}},
    "AdminState.ask_edit": lambda t: {"tech_id": t.tech_id},
    "AdminState.cancel_edit": lambda t: {},
    "AdminState.save_edit": lambda t: {"form": {"name": "Mallory Van", "van_reg": "MAL 1", "phone": t.phone}},
    "AdminState.ask_reset": lambda t: {"user_id": t.admin_id},
    "AdminState.cancel_reset": lambda t: {},
    "AdminState.reset_password": lambda t: {"form": {"password": "mallory-password-1"}},
    "AdminState.preview_prices": lambda t: {"form": {"callout_pence": "0.01", "per_tyre_pence": "0"}},
    "AdminState.cancel_prices": lambda t: {},
    "AdminState.save_prices": lambda t: {},
    "AdminState.refresh_texts": lambda t: {},
    "DispatchState.load": lambda t: {},
    "DispatchState.refresh": lambda t: {},
    "DispatchState.select": lambda t: {"request_id": t.request_id},
    "DispatchState.close": lambda t: {},
    "DispatchState.ask_assign": lambda t: {"technician_id": t.other_tech_id},
    "DispatchState.ask_unassign": lambda t: {},
    "DispatchState.ask_cancel": lambda t: {"form": {"reason": "mallory"}},
    "DispatchState.confirm": lambda t: {},
    "DispatchState.dismiss": lambda t: {},
    "DispatchState.note": lambda t: {"form": {"text": "mallory was here"}},
    "DispatchState.resend_link": lambda t: {},
    "TechState.load": lambda t: {},
    "TechState.refresh": lambda t: {},
    "TechState.set_shift": lambda t: {"status": "offline"},
    "TechState.ask_end_shift": lambda t: {},
    "TechState.keep_shift": lambda t: {},
    "TechState.end_shift": lambda t: {},
    "TechState.act": lambda t: {"action": "decline"},
    "TechState.complete": lambda t: {"form": {"fitted": "nothing", "note": "mallory"}},
    "TechState.alerts_result": lambda t: {"code": "on"},
    "AccountState.load": lambda t: {},
    "AccountState.start": lambda t: {},
    "AccountState.confirm": lambda t: {"form": {"code": "123456"}},
    "AccountState.renew_codes": lambda t: {"form": {"code": "123456"}},
    "AccountState.disable": lambda t: {"form": {"code": "123456"}},
    "AccountState.saved_codes": lambda t: {},
    "AccountState.issue_code": lambda t: {"form": {"username": f"dev{t.tag}"}},
    "AccountState.reset_other": lambda t: {"form": {"username": f"ada{t.tag}"}},
}
PAGE_OF = {"AdminState": "/admin", "DispatchState": "/dispatch", "TechState": "/tech", "AccountState": "/account"}


def protected_handlers() -> dict[str, tuple[str, frozenset[str]]]:
    """`Class.handler` -> (full event name, roles allowed), for every guarded handler of the app."""
    import tyrehero_app.tyrehero_app  # noqa: F401

    out = {}
    for cls in app_states():
        for name, handler in cls.event_handlers.items():
            access = getattr(handler.fn, "__tyrehero_access__", None)
            if access is not None and not access.public:
                out[f"{cls.__name__}.{name}"] = (f"{cls.get_full_name()}.{name}", frozenset(access.roles))
    return out


@dataclass
class Tab:
    """One websocket connection, as a browser tab would hold it."""

    url: str
    cookie: str | None
    messages: list[dict] = field(default_factory=list)

    def __post_init__(self) -> None:
        self.sio = socketio.Client(reconnection=False)
        self._got = threading.Event()

        @self.sio.on("event", namespace="/_event")
        def _on_event(data: Any) -> None:
            self.messages.append(data if isinstance(data, dict) else json.loads(data))
            self._got.set()

        headers = {"Origin": self.url}
        if self.cookie:
            headers["Cookie"] = self.cookie
        self.sio.connect(f"{self.url}?token={uuid.uuid4()}", socketio_path="/_event", transports=["websocket"],
                         namespaces=["/_event"], headers=headers, wait_timeout=10)

    def send(self, event: str, payload: dict[str, Any], page: str, until: Callable[[str], bool],
             timeout: float = 8.0) -> str:
        """Emit one event; return everything received until `until(text)` holds (or the timeout)."""
        start = len(self.messages)
        self.sio.emit("event", {"name": event, "payload": payload,
                                "router_data": {"pathname": page, "asPath": page, "query": {}}}, namespace="/_event")
        deadline = time.monotonic() + timeout
        while True:
            text = json.dumps(self.messages[start:])
            if until(text) or time.monotonic() > deadline:
                return text
            self._got.wait(0.05)
            self._got.clear()

    def close(self) -> None:
        self.sio.disconnect()


def refused(text: str) -> bool:
    return "_redirect" in text and "/login" in text or CANNOT in text


def _cookie(app, username: str) -> str:  # type: ignore[no-untyped-def]
    r = httpx.post(f"{app.url}/auth/login", data={"username": username, "password": PASSWORD, "next": "/"},
                   headers={"Origin": app.url}, follow_redirects=False)
    assert r.status_code == 303, f"login of {username} failed: {r.status_code} {r.text}"
    assert "th_session" in r.cookies, f"login of {username} failed: {r.status_code} {r.text}"
    return f"th_session={r.cookies['th_session']}"


SNAPSHOT = {
    "accounts": "SELECT id, username, display_name, role, password_hash, active, totp_secret_enc, totp_enabled,"
                " totp_last_step FROM user_account ORDER BY id",
    "recovery codes": "SELECT id, user_id, code_hash, used_at FROM recovery_code ORDER BY id",
    "enrolment codes": "SELECT code_hash, user_id, used_at FROM enrolment_code ORDER BY code_hash",
    "technicians": "SELECT id, name, van_reg, van_label, capabilities, status, active, user_id, version"
                   " FROM technician ORDER BY id",
    "prices": "SELECT name, value FROM price_setting ORDER BY name",
    "requests": "SELECT id, status, technician_id, version, customer_name, notes FROM service_request ORDER BY id",
    "timelines": "SELECT id, request_id, kind, data FROM request_event ORDER BY id",
    "audit": "SELECT id, action, target, data FROM audit_event ORDER BY id",
    "ratings": "SELECT id, request_id, stars, comment FROM rating ORDER BY id",
    "texts": "SELECT id, request_id, recipient, template FROM outbound_message ORDER BY id",
    "push subscriptions": "SELECT id, technician_id, endpoint FROM push_subscription ORDER BY id",
}


def _snapshot(engine: sa.Engine) -> dict[str, list[tuple]]:
    with engine.connect() as c:
        return {k: [tuple(map(str, r)) for r in c.execute(sa.text(q))] for k, q in SNAPSHOT.items()}


@pytest.fixture
def targets(app) -> Iterator[Targets]:  # type: ignore[no-untyped-def]
    tag = secrets.token_hex(3)
    phone = random_mobile()
    mine = app.make_technician(f"tia{tag}", at=(53.4808, -2.2426), status="available")
    other = app.make_technician(f"ned{tag}", at=(53.4908, -2.2426), status="available")
    admin_id = add_staff(app.core, f"ada{tag}", "admin")
    add_staff(app.core, f"dev{tag}", "dispatcher")
    add_staff(app.core, f"dora{tag}", "dispatcher")
    add_staff(app.core, f"lou{tag}", "admin")
    r = httpx.post(f"{app.url}/api/v1/requests", json={
        "customer_name": NAME, "phone": phone, "location": {"lat": 53.4808, "lng": -2.2426},
        "vehicle": "Skoda Octavia", "issue": "puncture", "notes": "blue car by the gate"})
    assert r.status_code == 201, r.text
    made = r.json()
    request_id, tech_id = app.job_for(made["tracking_token"])
    assert tech_id is not None, "nobody was sent"
    # Accepted, so that no offer expires and moves the job while the attack runs.
    app.job_action(tech_id, request_id, "accept")
    yield Targets(request_id, tech_id, other if tech_id == mine else mine, admin_id, tag, phone)
    httpx.post(f"{app.url}/api/v1/requests/track/{made['tracking_token']}/cancel")


def test_every_protected_handler_refuses_every_caller_without_the_role(app, targets) -> None:  # type: ignore[no-untyped-def]
    handlers = protected_handlers()
    missing = set(handlers) - set(ATTACKS)
    assert not missing, f"add an attack for {sorted(missing)}"
    widened = {k: sorted(roles) for k, (_e, roles) in handlers.items() if set(roles) != allowed_roles(k)}
    tag = targets.tag
    holder = _technician_username(app, targets.tech_id)

    # Tabs opened while their sessions were good, proved to work, then logged out / deactivated.
    logged_out = Tab(app.url, _cookie(app, f"lou{tag}"))
    deactivated = Tab(app.url, _cookie(app, f"dora{tag}"))
    try:
        text = logged_out.send(handlers["AdminState.load"][0], {}, "/admin", until=lambda t: f"ada{tag}" in t)
        assert f"ada{tag}" in text, "the admin's own tab did not load the staff list (the harness is not working)"
        text = deactivated.send(handlers["DispatchState.select"][0], {"request_id": targets.request_id}, "/dispatch",
                                until=lambda t: NAME in t)
        assert NAME in text, "the dispatcher's own tab did not see the customer (the leak detector would be blind)"
        r = httpx.post(f"{app.url}/auth/logout", headers={"Cookie": logged_out.cookie or "", "Origin": app.url},
                       follow_redirects=False)
        assert r.status_code == 303
        from core.staff import admin

        acting_admin = Principal(targets.admin_id, f"ada{tag}", "Ada", Role.ADMIN, None)
        admin.set_staff_active(app.core, acting_admin, _user_id(app, f"dora{tag}"), False)

        personas: dict[str, tuple[Tab | None, str | None, str]] = {
            "anonymous": (None, None, "none"),
            "forged cookie": (None, f"th_session={secrets.token_urlsafe(32)}", "none"),
            "technician": (None, _cookie(app, holder), "technician"),
            "dispatcher": (None, _cookie(app, f"dev{tag}"), "dispatcher"),
            "logged out": (logged_out, None, "none"),
            "deactivated": (deactivated, None, "none"),
        }
        before = _snapshot(app.core.engine)
        sent = refusals = 0
        leaks: list[str] = []
        not_refused: list[str] = []
        for persona, (tab, cookie, role) in personas.items():
            for short, (event, _declared) in handlers.items():
                if role in allowed_roles(short):
                    continue
                page = PAGE_OF[short.split(".")[0]]
                use = tab or Tab(app.url, cookie)  # a fresh tab per call, except the two open tabs
                try:
                    text = use.send(event, ATTACKS[short](targets), page, until=refused)
                finally:
                    if tab is None:
                        use.close()
                sent += 1
                if refused(text):
                    refusals += 1
                else:
                    not_refused.append(f"{persona}: {short}")
                if NAME in text or any(p in text for p in phone_forms(targets.phone)):
                    leaks.append(f"{persona}: {short}")
        time.sleep(1.0)  # anything a handler started would have landed by now
        after = _snapshot(app.core.engine)
    finally:
        logged_out.close()
        deactivated.close()
    changed = [k for k in SNAPSHOT if before[k] != after[k]]
    print(f"\nsent {sent} events ({len(handlers)} protected handlers x {len(personas)} callers, each without the role);"
          f" refused {refusals}; tables changed {changed or 'none'}; updates carrying a customer's name or phone"
          f" {len(leaks)}")
    assert not not_refused, f"not refused: {not_refused}"
    assert not widened, f"declared roles differ from who may call these handlers: {widened}"
    assert not changed, f"rows changed in {changed}"
    assert not leaks, f"personal data sent to {leaks}"


def _user_id(app, username: str) -> int:  # type: ignore[no-untyped-def]
    with app.core.engine.connect() as c:
        return c.execute(sa.text("SELECT id FROM user_account WHERE username = :u"), {"u": username}).scalar_one()


def _technician_username(app, tech_id: int) -> str:  # type: ignore[no-untyped-def]
    with app.core.engine.connect() as c:
        return c.execute(sa.text("SELECT u.username FROM technician t JOIN user_account u ON u.id = t.user_id"
                                 " WHERE t.id = :i"), {"i": tech_id}).scalar_one()


def test_a_dispatcher_who_opened_admin_then_dispatch_cannot_act_as_admin(app, browser, targets) -> None:  # type: ignore[no-untyped-def]
    """The tab's own state (same token, same cookie) after /admin (refused) and /dispatch (allowed)."""
    from tests.e2e.conftest import login

    ctx = browser.new_context(viewport={"width": 1280, "height": 900})
    try:
        page = ctx.new_page()
        page.goto(f"{app.url}/login?next=/admin")
        login(page, app.url, f"dev{targets.tag}")
        page.locator("#forbidden", has_text=CANNOT).wait_for(timeout=15000)
        assert page.locator("#prices").count() == 0
        page.goto(f"{app.url}/dispatch")
        page.locator("#queue").wait_for(timeout=15000)
        page.go_back()
        page.locator("#forbidden").wait_for(timeout=15000)
        assert page.locator("#new-technician").count() == 0, "the admin forms were shown to a dispatcher"
        cookie = "; ".join(f"{c['name']}={c['value']}" for c in ctx.cookies())
        token = page.evaluate("window.sessionStorage.getItem('token')")
        assert token, "no Reflex tab token in the page"
        before = _snapshot(app.core.engine)
        handlers = protected_handlers()
        tab = Tab(app.url, cookie)
        tab.sio.disconnect()
        tab.messages.clear()
        tab.sio.connect(f"{app.url}?token={token}", socketio_path="/_event", transports=["websocket"],
                        namespaces=["/_event"], headers={"Cookie": cookie, "Origin": app.url}, wait_timeout=10)
        try:
            for short in ("AdminState.create_staff", "AdminState.preview_prices", "AdminState.ask_staff_active"):
                text = tab.send(handlers[short][0], ATTACKS[short](targets), "/admin", until=refused)
                assert CANNOT in text, f"{short} was not refused for a dispatcher"
        finally:
            tab.close()
        time.sleep(0.5)
        assert _snapshot(app.core.engine) == before
    finally:
        ctx.close()


# The rating page's public handlers (anyone may call them: the rating link is the key), and what a script
# would send without that key, or with a key to a visit that is not completed, or with a rating no tap makes.
PUBLIC_ATTACKS = {"RateState.load", "RateState.set_comment", "RateState.rate"}


def test_the_rating_handlers_rate_nothing_without_a_completed_visits_link(app, targets) -> None:  # type: ignore[no-untyped-def]
    from core.requests.rating import rating_token

    rate_handlers = {f"{cls.__name__}.{name}": f"{cls.get_full_name()}.{name}" for cls in app_states()
                     if cls.__name__ == "RateState" for name in cls.event_handlers if name != "setvar"}
    assert set(rate_handlers) == PUBLIC_ATTACKS, "a new rating handler needs its attack here"
    with app.core.engine.connect() as c:
        public_id = c.execute(sa.text("SELECT public_id FROM service_request WHERE id = :i"),
                              {"i": targets.request_id}).scalar_one()
    open_link = f"/rate/{rating_token(app.core, public_id)}"
    before = _snapshot(app.core.engine)
    answers: dict[str, str] = {}
    forged = "/rate/" + "A" * 38
    cases = (("no load, no link", "/rate/", 5), ("forged link", forged, 5), ("open request", open_link, 5),
             ("open request, 99 stars", open_link, 99))
    for case, page, stars in cases:
        tab = Tab(app.url, None)
        try:
            text = ""
            if case != "no load, no link":
                text += tab.send(rate_handlers["RateState.load"], {}, page, until=lambda t: "loaded" in t)
            text += tab.send(rate_handlers["RateState.set_comment"], {"value": "x" * 5000}, page,
                             until=lambda t: "comment" in t)
            text += tab.send(rate_handlers["RateState.rate"], {"stars": stars}, page,
                             until=lambda t: "error" in t or "gone" in t)
            answers[case] = text
        finally:
            tab.close()
    time.sleep(0.5)
    print({case: len(text) for case, text in answers.items()})
    assert "once the job is completed" in answers["open request"], answers["open request"]
    assert "Choose from 1 to 5 stars" in answers["open request, 99 stars"], answers["open request, 99 stars"]
    assert "unknown" in answers["forged link"] and "unknown" in answers["no load, no link"], answers
    assert _snapshot(app.core.engine) == before, "no rating stored, nothing else changed"
    assert not any(NAME in text for text in answers.values()), "no customer's name in any update"
