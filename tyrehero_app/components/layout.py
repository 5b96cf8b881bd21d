"""The page frame shared by customer pages."""

from collections.abc import Callable

import reflex as rx

from tyrehero_app import routes, styles


def header() -> rx.Component:
    return rx.hstack(
        rx.link(
            rx.hstack(rx.icon("circle-dot", size=28), rx.heading("TyreHero", size="6"), align="center"),
            href=routes.HOME,
            underline="none",
            color="inherit",
        ),
        rx.spacer(),
        rx.badge("24/7", color_scheme=styles.ACCENT, size="2"),
        width="100%",
        padding_y="0.5em",
    )


def layout(page: Callable[[], rx.Component]) -> Callable[[], rx.Component]:
    """Wrap a page in the header and a phone-width column."""

    def wrapped() -> rx.Component:
        return rx.box(rx.vstack(header(), page(), spacing="4", width="100%"), style=styles.page)

    wrapped.__name__ = page.__name__
    return wrapped
