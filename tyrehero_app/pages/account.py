"""`/account`: one's own two-factor sign-in (set up with a QR code or, on the phone itself, a link that
opens the authenticator app; recovery codes; turning it off where the role allows), and, for admins,
enrolment codes and resets for colleagues. Every handler is guarded; the core checks again."""

from __future__ import annotations

import asyncio
import base64
import time
from collections.abc import Callable
from typing import Any

import reflex as rx

from core.errors import DomainError, ValidationFailed
from core.principal import Principal, Role
from core.staff import auth, mfa
from tyrehero_app import styles
from tyrehero_app.components.layout import layout
from tyrehero_app.components.staff import logout_button
from tyrehero_app.guard import StaffPage, guarded
from tyrehero_app.runtime import get_core

STAFF = (Role.ADMIN, Role.DISPATCHER, Role.TECHNICIAN)


def _grouped(secret: str) -> str:
    return " ".join(secret[i : i + 4] for i in range(0, len(secret), 4))


class AccountState(StaffPage, rx.State):
    enabled: bool = False
    required: bool = False
    codes_left: int = 0
    secret: str = ""  # shown while this tab sets up the app
    uri: str = ""
    qr_src: str = ""
    recovery_codes: list[str] = []  # shown once, right after they are made
    colleague_tools: bool = False  # whether to show them (display only: their handlers are guarded)
    issued: str = ""  # an enrolment code just issued, with whom it is for
    message: str = ""
    ok: bool = True

    async def _call(self, fn: Callable[..., Any], *args: Any) -> Any:
        """Run a core service off the event loop; a refusal becomes the page's message (None returned)."""
        try:
            result = await asyncio.to_thread(fn, get_core(), *args)
        except ValidationFailed as e:
            self.message, self.ok = e.errors.get("code", e.message), False
            return None
        except DomainError as e:
            self.message, self.ok = e.message, False
            return None
        self.ok = True
        return result

    async def _refresh(self, who: Principal) -> None:
        status = await asyncio.to_thread(mfa.status, get_core(), who)
        self.enabled, self.required, self.codes_left = status.enabled, status.required, status.recovery_codes_left
        self.user_name, self.colleague_tools = who.name, who.role == Role.ADMIN

    def _checked_code(self, who: Principal, fn: Callable[..., Any]) -> Callable[..., Any]:
        """A core call that checks a code, throttled and counted like a login."""
        ip = self.router.session.client_ip or "unknown"

        def run(core: Any, code: str) -> Any:
            now = time.time()
            with auth.counted_attempt(core, who.username, ip, now):
                return fn(core, who, code, now)

        return run

    @guarded(*STAFF)
    async def load(self, who: Principal) -> None:
        self.secret = self.uri = self.qr_src = self.issued = self.message = ""
        self.recovery_codes = []
        await self._refresh(who)

    @guarded(*STAFF)
    async def start(self, who: Principal) -> None:
        e = await self._call(mfa.begin_enrolment, who)
        if e is not None:
            self.secret, self.uri = _grouped(e.secret), e.uri
            self.qr_src = "data:image/svg+xml;base64," + base64.b64encode(e.qr_svg().encode()).decode()
            self.message = ""

    @guarded(*STAFF)
    async def confirm(self, who: Principal, form: dict) -> None:
        codes = await self._call(self._checked_code(who, mfa.confirm_enrolment), str(form.get("code", "")))
        if codes is not None:
            self.secret = self.uri = self.qr_src = ""
            self.recovery_codes, self.message = codes, "Two-factor sign-in is on."
        await self._refresh(who)

    @guarded(*STAFF)
    async def renew_codes(self, who: Principal, form: dict) -> None:
        codes = await self._call(self._checked_code(who, mfa.new_recovery_codes), str(form.get("code", "")))
        if codes is not None:
            self.recovery_codes, self.message = codes, "New recovery codes: the old ones no longer work."
        await self._refresh(who)

    @guarded(*STAFF)
    async def disable(self, who: Principal, form: dict) -> None:
        await self._call(self._checked_code(who, mfa.disable), str(form.get("code", "")))
        if self.ok:
            self.message = "Two-factor sign-in is off."
        await self._refresh(who)

    @guarded(*STAFF)
    async def saved_codes(self, who: Principal) -> None:
        self.recovery_codes = []
        await self._refresh(who)

    @guarded(Role.ADMIN)
    async def issue_code(self, who: Principal, form: dict) -> None:
        await self._admin(who, mfa.issue_enrolment_code, form)

    @guarded(Role.ADMIN)
    async def reset_other(self, who: Principal, form: dict) -> None:
        await self._admin(who, mfa.reset, form)

    async def _admin(self, who: Principal, fn: Callable[..., mfa.IssuedCode], form: dict) -> None:
        issued = await self._call(fn, who, str(form.get("username", ""))[:64])
        self.issued = ""
        if issued is not None:
            self.issued = f"{issued.username}: {issued.code}"
            self.message = (f"Read this code to {issued.username} (in person or by phone). It works once, "
                            f"until {issued.expires_at:%d %b %H:%M} UTC.")


def _code_form(handler: rx.EventHandler, button: str, form_id: str, **button_props: Any) -> rx.Component:
    return rx.form(
        rx.hstack(
            rx.el.label("Code", html_for=f"{form_id}-code", class_name="th-visually-hidden"),
            rx.el.input(name="code", id=f"{form_id}-code", placeholder="6-digit code", required=True,
                        auto_complete="one-time-code", input_mode="numeric", max_length=40, class_name="th-select",
                        style={"flex": "1"}),
            rx.button(button, type="submit", **button_props),
            width="100%",
        ),
        on_submit=handler, reset_on_submit=True, id=form_id, width="100%",
    )


def _set_up() -> rx.Component:
    return rx.vstack(
        rx.text("1. Add TyreHero to your authenticator app "
                "(Google Authenticator, Microsoft Authenticator, 1Password…):"),
        rx.link(rx.button("Open in the authenticator app on this phone", variant="soft", width="100%"),
                href=AccountState.uri, id="otpauth-link", width="100%"),
        rx.text("or scan this QR code from another screen:", size="2"),
        rx.image(src=AccountState.qr_src, alt="QR code for the authenticator app", width="220px", id="qr"),
        rx.text("or type this key into the app:", size="2"),
        rx.code(AccountState.secret, id="secret", size="3"),
        rx.text("2. Enter the code the app now shows:"),
        _code_form(AccountState.confirm, "Turn on", "confirm-form", color_scheme=styles.ACCENT),
        spacing="3", width="100%",
    )


def _recovery_codes() -> rx.Component:
    return rx.callout.root(rx.vstack(
        rx.text("Your recovery codes. Each signs you in once if you lose your phone. Save or print them now: "
                "they are not shown again.", weight="bold"),
        rx.grid(rx.foreach(AccountState.recovery_codes, lambda c: rx.code(c, size="3")), columns="2", spacing="2"),
        rx.button("I have saved them", on_click=AccountState.saved_codes, variant="soft", id="saved-codes"),
        spacing="3"), color_scheme="amber", width="100%", id="recovery-codes")


def _when_on() -> rx.Component:
    return rx.vstack(
        rx.text("New recovery codes (the old ones stop working):", size="2"),
        _code_form(AccountState.renew_codes, "New codes", "renew-form", variant="soft"),
        rx.cond(~AccountState.required, rx.vstack(
            rx.text("Turn two-factor sign-in off:", size="2"),
            _code_form(AccountState.disable, "Turn off", "disable-form", variant="soft", color_scheme="red"),
            width="100%")),
        spacing="2", width="100%",
    )


def _admin_tools() -> rx.Component:
    def account_form(handler: rx.EventHandler, button: str, form_id: str) -> rx.Component:
        return rx.form(rx.hstack(
            rx.el.label("Colleague's username", html_for=f"{form_id}-username", class_name="th-visually-hidden"),
            rx.el.input(name="username", id=f"{form_id}-username", placeholder="username", required=True, max_length=64,
                        class_name="th-select", auto_capitalize="none", style={"flex": "1"}),
            rx.button(button, type="submit", variant="soft"), width="100%"),
            on_submit=handler, reset_on_submit=True, id=form_id, width="100%")

    return rx.vstack(
        rx.heading("Colleagues", size="4", as_="h2"),
        rx.text("A new colleague, or one without two-factor sign-in yet: issue an enrolment code. "
                "Lost phone: reset (their recovery codes stop working) and read them the new code.", size="2"),
        account_form(AccountState.issue_code, "Issue enrolment code", "issue-form"),
        account_form(AccountState.reset_other, "Reset two-factor", "reset-form"),
        rx.cond(AccountState.issued != "", rx.code(AccountState.issued, size="4", id="issued-code")),
        spacing="3", width="100%",
    )


@layout
def account() -> rx.Component:
    return rx.vstack(
        rx.hstack(rx.heading("Your account", size="6", as_="h1"), rx.spacer(), rx.text(AccountState.user_name),
                  logout_button(), width="100%", align="center"),
        rx.box(rx.cond(AccountState.message != "", rx.callout(AccountState.message, width="100%", id="account-message",
                                                               color_scheme=rx.cond(AccountState.ok, "green", "red"))),
               role="status", aria_live="polite", width="100%"),
        rx.heading("Two-factor sign-in", size="4", as_="h2"),
        rx.cond(AccountState.enabled,
                rx.text("On. Recovery codes left: ", AccountState.codes_left, id="mfa-status"),
                rx.text(rx.cond(AccountState.required, "Off — your role must use it: set it up now.",
                                "Off. Anyone may turn it on; admins and dispatchers must."), id="mfa-status")),
        rx.cond(AccountState.recovery_codes.length() > 0, _recovery_codes()),
        rx.cond(~AccountState.enabled,
                rx.cond(AccountState.secret != "", _set_up(),
                        rx.button("Set up two-factor sign-in", on_click=AccountState.start, id="start-2fa",
                                  color_scheme=styles.ACCENT, **styles.big_button)),
                _when_on()),
        rx.cond(AccountState.colleague_tools, _admin_tools()),
        spacing="4", width="100%",
    )
