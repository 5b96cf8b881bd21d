"""The app-wide notice shown while the page has no connection to the server, in place of Reflex's own
"Cannot connect to server: websocket error… ws://…" toast and its pulsing icon.

It tells the truth in words a technician at the roadside understands: while the socket is down, Reflex
keeps every tap in its event queue and sends the queue in order on reconnecting (`processEvent` holds
events until `socket.connected`; the `connect` handler drains the queue), positions wait in localStorage
(`assets/tech-tracker.js`), and a step the server had already applied counts as done
(`core.technicians.jobs`). Installed as the app's "Overlay" wrap (`install`)."""

from __future__ import annotations

import reflex as rx
from reflex_components_core.core.banner import has_connection_errors

NO_SIGNAL = "No signal — saved, will send when you're back."


def connection_notice() -> rx.Component:
    return rx.el.div(
        rx.cond(
            has_connection_errors,
            rx.hstack(
                rx.icon("wifi-off", size=20, aria_hidden="true"),
                rx.text(NO_SIGNAL, weight="medium"),
                align="center",
                spacing="2",
                class_name="th-offline",
                id="offline-notice",
            ),
        ),
        role="status",
        aria_live="polite",
        class_name="th-offline-region",
    )


def install(app: rx.App) -> None:
    """Replace Reflex's connection toast and pulser with `connection_notice` on every page."""
    # A wrap receives the rest of the app as its children: a fragment puts them beside the notice, not inside it.
    app.app_wraps[(5, "Overlay")] = lambda stateful: rx.fragment(connection_notice()) if stateful else None
