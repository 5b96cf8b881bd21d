"""The staff session as the app sees it: one cookie, read the same way by pages and API routes."""

from __future__ import annotations

from http.cookies import CookieError, SimpleCookie

from starlette.concurrency import run_in_threadpool

from core.principal import Principal
from core.staff.auth import cached_principal, principal_for
from tyrehero_app.runtime import get_core

SESSION_COOKIE = "th_session"


def token_from_cookie_header(cookie_header: str | None) -> str | None:
    """The session token in a raw `Cookie:` header (what a page's websocket connection carried)."""
    if not cookie_header:
        return None
    jar: SimpleCookie = SimpleCookie()
    try:
        jar.load(cookie_header)
    except CookieError:
        return None
    morsel = jar.get(SESSION_COOKIE)
    return morsel.value if morsel is not None else None


async def principal_from_token(token: str | None) -> Principal | None:
    """Who holds this live session: from the process's cache when it knows it (no thread hop; revocations
    evict it at once), else from PostgreSQL on the API's thread pool."""
    if not token:
        return None
    core = get_core()
    who = cached_principal(core.principals, token)
    if who is None:
        core.listener()  # revocations by other processes evict from the cache
        who = await run_in_threadpool(principal_for, core.engine, token, core.principals)
    return who
