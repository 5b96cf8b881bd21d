"""Dependencies shared by the staff endpoints: who is calling, and with which role."""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, Request
from starlette.concurrency import run_in_threadpool

from core.addresses import client_address
from core.auth import Principal, cached_principal, principal_for
from core.errors import DomainError
from tyrehero_app.runtime import get_core

SESSION_COOKIE = "th_session"


class NotAuthenticated(DomainError):
    pass


def token_from(request: Request) -> str | None:
    """A bearer token, else the page session cookie."""
    auth = request.headers.get("authorization", "")
    if auth.lower().startswith("bearer "):
        return auth[7:].strip()
    return request.cookies.get(SESSION_COOKIE)


async def current_principal(request: Request) -> Principal:
    """From this process's cache when it knows the session (no thread hop), else from PostgreSQL."""
    core = get_core()
    token = token_from(request)
    p = cached_principal(core.principals, token)
    if p is None:
        core.listener()  # revocations by other processes evict from the cache
        p = await run_in_threadpool(principal_for, core.engine, token, core.principals)
    if p is None:
        raise NotAuthenticated("Log in first.")
    return p


def _role(*roles: str):  # type: ignore[no-untyped-def]
    # Async because it only compares strings: a sync dependency costs a trip through the thread pool,
    # and under load every trip waits in the pool's queue again.
    async def dep(p: Annotated[Principal, Depends(current_principal)]) -> Principal:
        return p.require(*roles)

    return dep


CurrentUser = Annotated[Principal, Depends(current_principal)]
CurrentTechnician = Annotated[Principal, Depends(_role("technician"))]
CurrentDispatcher = Annotated[Principal, Depends(_role("dispatcher", "admin"))]
CurrentAdmin = Annotated[Principal, Depends(_role("admin"))]


def client_ip(request: Request) -> str:
    """The caller's address; X-Forwarded-For counts only when the peer is a TRUSTED_PROXIES proxy."""
    forwarded = ", ".join(request.headers.getlist("x-forwarded-for"))
    return client_address(request.client.host if request.client else None, forwarded,
                          get_core().settings.trusted_proxies)
