"""`/login`: staff log in. The forms post natively to the HTTP routes (core logic and the HttpOnly cookie live
there): first username and password, then, for an account that needs one, the code on a step of its own
(`?step=code`: from the authenticator app or a recovery code; `?step=enrol`: an admin's enrolment code)."""

from __future__ import annotations

from urllib.parse import parse_qs, urlparse

import reflex as rx

from tyrehero_app import styles
from tyrehero_app.components.layout import layout
from tyrehero_app.guard import Declared, public

STEPS = ("", "code", "enrol")


class LoginState(Declared, rx.State):
    error: str = ""
    next_path: str = ""
    step: str = ""

    @public
    def load(self) -> None:
        q = parse_qs(urlparse(str(self.router.url)).query)
        self.error = (q.get("error") or [""])[0][:200]
        self.next_path = (q.get("next") or [""])[0][:200]
        step = (q.get("step") or [""])[0]
        self.step = step if step in STEPS else ""


def _input(name: str, label: str, **props) -> rx.Component:  # type: ignore[no-untyped-def]
    return rx.vstack(
        rx.el.label(label, html_for=name, style={"font_weight": "600"}),
        rx.el.input(name=name, id=name, required=True, class_name="th-select", **props),
        spacing="1",
        width="100%",
    )


def _native_form(form_id: str, action: str, *children: rx.Component) -> rx.Component:
    """Reflex forms stop the native submit; post natively so the HTTP route can set the HttpOnly cookie."""
    return rx.el.form(
        rx.vstack(*children, rx.el.input(type="hidden", name="next", value=LoginState.next_path), spacing="4",
                  width="100%"),
        action=action,
        method="post",
        id=form_id,
        on_submit=rx.run_script(f"document.getElementById('{form_id}').submit()"),
        width="100%",
    )


def _password_step() -> rx.Component:
    return _native_form(
        "login-form", "/auth/login",
        _input("username", "Username", auto_complete="username", auto_capitalize="none", max_length=64),
        _input("password", "Password", type="password", auto_complete="current-password", max_length=256),
        rx.button("Log in", type="submit", color_scheme=styles.ACCENT, id="login", **styles.big_button),
    )


def _code_field(label: str, **props) -> rx.Component:  # type: ignore[no-untyped-def]
    return _input("code", label, auto_capitalize="none", auto_correct="off", spell_check=False, max_length=40,
                  auto_focus=True, **props)


def _code_step() -> rx.Component:
    return rx.vstack(
        rx.text("Open your authenticator app and enter the 6-digit code it shows for TyreHero."),
        _native_form(
            "code-form", "/auth/login/code",
            # one-time-code lets phones offer the code; numeric keypad, yet a recovery code can still be typed.
            _code_field("Code", auto_complete="one-time-code", input_mode="numeric"),
            rx.button("Continue", type="submit", color_scheme=styles.ACCENT, id="send-code", **styles.big_button),
        ),
        rx.text("No phone? Enter one of your recovery codes instead.", size="2", color_scheme="gray"),
        spacing="3", width="100%",
    )


def _enrol_step() -> rx.Component:
    return rx.vstack(
        rx.text("Your account must use two-factor sign-in. Enter the enrolment code an admin gave you; "
                "you will then set up your authenticator app."),
        _native_form(
            "code-form", "/auth/login/code",
            _code_field("Enrolment code", auto_complete="off"),
            rx.button("Continue", type="submit", color_scheme=styles.ACCENT, id="send-code", **styles.big_button),
        ),
        rx.text("No code? Ask an admin to issue one.", size="2", color_scheme="gray"),
        spacing="3", width="100%",
    )


@layout
def login() -> rx.Component:
    return rx.vstack(
        rx.heading(rx.cond(LoginState.step == "", "Staff login", "Two-factor sign-in"), size="7", as_="h1"),
        rx.box(rx.cond(LoginState.error != "", rx.callout(LoginState.error, icon="circle-alert", color_scheme="red",
                                                           width="100%", id="login-error")),
               role="alert", width="100%"),
        rx.match(LoginState.step, ("code", _code_step()), ("enrol", _enrol_step()), _password_step()),
        rx.cond(LoginState.step != "", rx.link("Start again", href="/login", size="2", id="start-again")),
        spacing="4",
        width="100%",
    )
