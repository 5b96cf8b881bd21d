"""`/login`: staff log in; the form posts to the HTTP route that sets the HttpOnly cookie."""

from __future__ import annotations

from urllib.parse import parse_qs, urlparse

import reflex as rx

from tyrehero_app import styles
from tyrehero_app.components.layout import layout
from tyrehero_app.guard import Declared, public


class LoginState(Declared, rx.State):
    error: str = ""
    next_path: str = ""

    @public
    def load(self) -> None:
        q = parse_qs(urlparse(str(self.router.url)).query)
        self.error = (q.get("error") or [""])[0][:200]
        self.next_path = (q.get("next") or [""])[0][:200]


def _input(name: str, label: str, **props) -> rx.Component:  # type: ignore[no-untyped-def]
    return rx.vstack(
        rx.el.label(label, html_for=name, style={"font_weight": "600"}),
        rx.el.input(name=name, id=name, required=True, class_name="th-select", **props),
        spacing="1",
        width="100%",
    )


@layout
def login() -> rx.Component:
    return rx.vstack(
        rx.heading("Staff login", size="7"),
        rx.cond(LoginState.error != "", rx.callout(LoginState.error, icon="circle-alert", color_scheme="red",
                                                    width="100%", id="login-error")),
        rx.el.form(
            rx.vstack(
                _input("username", "Username", auto_complete="username", auto_capitalize="none", max_length=64),
                _input("password", "Password", type="password", auto_complete="current-password", max_length=256),
                rx.el.input(type="hidden", name="next", value=LoginState.next_path),
                rx.button("Log in", type="submit", color_scheme=styles.ACCENT, id="login", **styles.big_button),
                spacing="4",
                width="100%",
            ),
            action="/auth/login",
            method="post",
            id="login-form",
            # Reflex forms stop the native submit; post natively so the HTTP route can set the HttpOnly cookie.
            on_submit=rx.run_script("document.getElementById('login-form').submit()"),
            width="100%",
        ),
        spacing="4",
        width="100%",
    )
