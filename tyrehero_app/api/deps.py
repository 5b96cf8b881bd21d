"""Dependencies shared by the staff endpoints: who is calling, and with which role."""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, Request

from core.errors import DomainError
from core.infra.addresses import client_address
from core.principal import Principal
from tyrehero_app.runtime import get_core
from tyrehero_app.session import SESSION_COOKIE, principal_from_token


class NotAuthenticated(DomainError):
    pass


def token_from(request: Request) -> str | None:
    """A bearer token, else the page session cookie."""
    auth = request.headers.get("authorization", "")
    if auth.lower().startswith("bearer "):
        return auth[7:].strip()
    return request.cookies.get(SESSION_COOKIE)


async def current_principal(request: Request) -> Principal:
    """The caller of a staff route, by bearer token or session cookie (as the pages read it)."""
    p = await principal_from_token(token_from(request))
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
