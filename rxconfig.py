"""Reflex configuration. Our own settings (core.config) decide databases; Reflex keeps page state in memory
in one process by default, or in Redis when REFLEX_REDIS_URL is set for scale-out.

CORS: Reflex's default is "*", which its CORS middleware answers with the caller's own origin and
credentials, so any site could read our API with a staff member's cookie. It gets CORS_ORIGINS instead
(default: none, only the app's own pages). Socket.IO receives the same list; `api.origins.OriginGuard`
checks the socket's origin first and keeps our own pages connectable when the list is set."""

import os

import reflex as rx

from core.config import get_settings

os.environ.setdefault("REFLEX_CHECK_LATEST_VERSION", "false")

config = rx.Config(
    app_name="tyrehero_app",
    telemetry_enabled=False,
    show_built_with_reflex=False,
    cors_allowed_origins=get_settings().cors_origins,
    frontend_port=int(os.environ.get("PORT", "3000")),
    backend_port=int(os.environ.get("BACKEND_PORT", os.environ.get("PORT", "3000"))),
    state_manager_mode="redis" if os.environ.get("REFLEX_REDIS_URL") else "memory",
    redis_url=os.environ.get("REFLEX_REDIS_URL") or None,
    plugins=[
        rx.plugins.SitemapPlugin(),
        rx.plugins.RadixThemesPlugin(theme=rx.theme(accent_color="amber", radius="large")),
    ],
)
