"""Reflex configuration. Our own settings (core.config) decide databases; Reflex keeps page state in memory
in one process by default, or in Redis when REFLEX_REDIS_URL is set for scale-out."""

import os

import reflex as rx

os.environ.setdefault("REFLEX_CHECK_LATEST_VERSION", "false")

config = rx.Config(
    app_name="tyrehero_app",
    telemetry_enabled=False,
    show_built_with_reflex=False,
    frontend_port=int(os.environ.get("PORT", "3000")),
    backend_port=int(os.environ.get("BACKEND_PORT", os.environ.get("PORT", "3000"))),
    state_manager_mode="redis" if os.environ.get("REFLEX_REDIS_URL") else "memory",
    redis_url=os.environ.get("REFLEX_REDIS_URL") or None,
    plugins=[rx.plugins.SitemapPlugin(), rx.plugins.RadixThemesPlugin(theme=rx.theme(accent_color="amber", radius="large"))],
)
