"""Shared by the edge tests: settings the API server starts with, and the origins they play."""

from __future__ import annotations

import httpx

from core.context import Core

EVIL = "https://evil.example"
PARTNER = "https://www.tyrehero.example"


def configure(core: Core, **update: object) -> Core:
    """The settings the API server is built with (the api_server fixture reads core.settings when it starts)."""
    core.settings = core.settings.model_copy(update=update)
    return core


def own_origin(server) -> str:  # type: ignore[no-untyped-def]
    return server.url  # http://127.0.0.1:<port>: what a browser on our own page sends


def page_login(server, username: str, origin: str | None) -> httpx.Response:  # type: ignore[no-untyped-def]
    headers = {"Origin": origin} if origin else {}
    return httpx.post(f"{server.url}/auth/login", data={"username": username, "password": "correct horse battery"},
                      headers=headers, follow_redirects=False)
