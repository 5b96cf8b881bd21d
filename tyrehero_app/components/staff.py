"""Staff pages: the session cookie (set by the HTTP login route) is checked server-side on every load."""

from __future__ import annotations

import asyncio
from http.cookies import SimpleCookie
from urllib.parse import quote, urlparse

import reflex as rx

from core.auth import principal_for
from tyrehero_app.api.deps import SESSION_COOKIE
from tyrehero_app.runtime import get_core


class StaffState(rx.State):
    """Who is logged in on this page."""

    user_name: str = ""
    role: str = ""
    technician_id: int = 0
    forbidden: bool = False

    async def _authorize(self, *roles: str):  # type: ignore[no-untyped-def]
        """None when allowed; else an event that sends the browser to the login page."""
        jar = SimpleCookie()
        jar.load(self.router.headers.cookie or "")
        token = jar[SESSION_COOKIE].value if SESSION_COOKIE in jar else None
        who = await asyncio.to_thread(principal_for, get_core().engine, token)
        path = urlparse(str(self.router.url)).path.rstrip("/") or "/"
        if who is None:
            self.user_name = ""
            return rx.redirect(f"/login?next={quote(path)}")
        self.user_name, self.role, self.technician_id = who.name, who.role, who.technician_id or 0
        self.forbidden = who.role not in roles
        return None


def logout_button() -> rx.Component:
    return rx.el.form(
        rx.button("Log out", type="submit", variant="soft", color_scheme="gray", size="2", id="logout"),
        action="/auth/logout",
        method="post",
        id="logout-form",
        on_submit=rx.run_script("document.getElementById('logout-form').submit()"),
    )


def forbidden_notice() -> rx.Component:
    return rx.callout("Your account cannot open this page.", icon="lock", color_scheme="red", id="forbidden")
