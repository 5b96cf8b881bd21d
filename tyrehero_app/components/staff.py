"""Pieces shared by the staff pages. Who may call what is declared in `tyrehero_app.guard`."""

from __future__ import annotations

import reflex as rx


def logout_button() -> rx.Component:
    return rx.el.form(
        rx.button("Log out", type="submit", variant="soft", color_scheme="gray", size="2", id="logout"),
        action="/auth/logout",
        method="post",
        id="logout-form",
        on_submit=rx.call_script("document.getElementById('logout-form').submit()"),
    )


def denied_notice(text: rx.Var) -> rx.Component:
    return rx.callout(text, icon="lock", color_scheme="red", id="forbidden")
