"""The `/account` page's handlers, called as a browser's websocket would call them (cookie in the headers),
on the real core: each re-reads the session, and admins' tools refuse everyone else."""

from __future__ import annotations

import asyncio
import re
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import pyotp
import pytest
import reflex as rx
from reflex.istate.data import RouterData

from core.context import Core
from core.staff.auth import login
from tests.factories import add_staff
from tyrehero_app.pages.account import AccountState
from tyrehero_app.runtime import set_core

RIGHT = "correct horse battery"


@pytest.fixture
def app_core(core: Core) -> Iterator[Core]:
    set_core(core)
    yield core
    set_core(None)


def page(token: str | None) -> AccountState:
    """A fresh tab on /account whose websocket carried this session cookie (or none)."""
    root = rx.State(_reflex_internal_init=True)
    headers = {"cookie": f"th_session={token}"} if token else {}
    root.router = RouterData.from_router_data({"headers": headers, "pathname": "/account", "asPath": "/account",
                                               "ip": "192.0.2.10"})
    return root.get_substate(AccountState.get_full_name().split("."))  # type: ignore[return-value]


def call(state: AccountState, handler: str, **payload: Any) -> Any:
    """Run the handler on an event loop of its own thread (another test's loop may be running in this one)."""
    with ThreadPoolExecutor(1) as pool:
        return pool.submit(asyncio.run, AccountState.event_handlers[handler].fn(state, **payload)).result()


def signed_in(core: Core, username: str, role: str) -> AccountState:
    add_staff(core, username, role)
    return page(login(core, username, RIGHT, "192.0.2.10")[0])


def test_a_dispatcher_sets_up_two_factor_on_the_account_page(app_core: Core) -> None:
    tab = signed_in(app_core, "dana", "dispatcher")
    call(tab, "load")
    assert tab.user_name == "Dana", f"tab.user_name is {tab.user_name!r}, wanted 'Dana'"
    assert not tab.enabled, "wanted not tab.enabled"
    assert not tab.colleague_tools, "wanted not tab.colleague_tools"
    call(tab, "start")
    assert tab.uri.startswith("otpauth://totp/"), "wanted tab.uri.startswith('otpauth://totp/')"
    assert tab.qr_src.startswith("data:image/svg+xml;base64,"), (
        "wanted tab.qr_src.startswith('data:image/svg+xml;base64,')"
    )
    secret = tab.secret.replace(" ", "")
    call(tab, "confirm", form={"code": pyotp.TOTP(secret).now()})
    assert tab.enabled, "wanted tab.enabled"
    assert tab.codes_left == 10, f"tab.codes_left is {tab.codes_left!r}, wanted 10"
    assert len(tab.recovery_codes) == 10, "wanted len(tab.recovery_codes) == 10"
    assert tab.secret == "", f"tab.secret is {tab.secret!r}, wanted ''"
    call(tab, "saved_codes")
    assert tab.recovery_codes == []


def test_a_wrong_code_on_the_page_is_refused_with_a_message(app_core: Core) -> None:
    tab = signed_in(app_core, "dana", "dispatcher")
    call(tab, "start")
    call(tab, "confirm", form={"code": "12345x"})
    assert not tab.enabled, "wanted not tab.enabled"
    assert not tab.ok, "wanted not tab.ok"
    assert "not right" in tab.message, "'not right' missing from tab.message"


def test_without_a_session_the_page_does_nothing_and_sends_the_browser_to_login(app_core: Core) -> None:
    tab = page(None)
    event = call(tab, "start")
    assert "/login?next=/account" in str(event), "'/login?next=/account' missing from str(event)"
    assert tab.secret == "", f"tab.secret is {tab.secret!r}, wanted ''"
    assert call(page("not-a-session"), "issue_code", form={"username": "dana"}) is not None


def test_only_an_admin_issues_enrolment_codes_from_the_page(app_core: Core) -> None:
    add_staff(app_core, "tina", "technician")
    dispatcher = signed_in(app_core, "dana", "dispatcher")
    call(dispatcher, "issue_code", form={"username": "tina"})
    assert dispatcher.issued == "", f"dispatcher.issued is {dispatcher.issued!r}, wanted ''"
    assert dispatcher.denied, "wanted dispatcher.denied"
    admin = signed_in(app_core, "boss", "admin")
    call(admin, "issue_code", form={"username": "tina"})
    assert re.fullmatch(r"tina: [a-z2-9]{5}-[a-z2-9]{5}-[a-z2-9]{5}", admin.issued)
    call(admin, "reset_other", form={"username": "boss"})
    assert not admin.ok, "wanted not admin.ok"
    assert "another admin" in admin.message, "'another admin' missing from admin.message"
