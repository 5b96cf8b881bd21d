"""The page frame shared by the customer pages and the technician's phone: a banner with the brand
(not a heading: each page has its own one `h1`) and the page in a `<main>` landmark."""

from collections.abc import Callable

import reflex as rx

from tyrehero_app import routes, styles


def header() -> rx.Component:
    return rx.el.header(
        rx.hstack(
            rx.link(
                rx.hstack(rx.icon("circle-dot", size=28, aria_hidden="true"),
                          rx.text("TyreHero", size="6", weight="bold"), align="center"),
                href=routes.HOME,
                underline="none",
                color="inherit",
                aria_label="TyreHero home",
                class_name="th-tap",
            ),
            rx.spacer(),
            rx.badge("24/7", color_scheme=styles.ACCENT, size="2"),
            width="100%",
            padding_y="0.5em",
            align="center",
        ),
        width="100%",
    )


def layout(page: Callable[[], rx.Component]) -> Callable[[], rx.Component]:
    """Wrap a page in the banner and a phone-width `<main>` column."""

    def wrapped() -> rx.Component:
        return rx.box(rx.vstack(header(), rx.el.main(page(), width="100%", id="main"), spacing="4", width="100%"),
                      style=styles.page)

    wrapped.__name__ = page.__name__
    return wrapped
