"""The home page: what TyreHero is and how to get help."""

import reflex as rx

from tyrehero_app import routes, styles
from tyrehero_app.components.layout import layout


def _step(number: str, title: str, text: str) -> rx.Component:
    return rx.hstack(
        rx.badge(number, size="3", radius="full", color_scheme=styles.ACCENT),
        rx.vstack(rx.text(title, weight="bold"), rx.text(text, color_scheme="gray", size="2"), spacing="0"),
        align="start",
        spacing="3",
    )


@layout
def home() -> rx.Component:
    return rx.vstack(
        rx.heading("Flat tyre? We come to you.", size="8"),
        rx.text(
            "TyreHero is a 24/7 emergency mobile tyre service for drivers across Great Britain and "
            "Northern Ireland. A fitted van reaches you within 90 minutes, day or night — on the "
            "motorway hard shoulder, at home or at work.",
            size="4",
        ),
        rx.link(
            rx.button(rx.icon("life-buoy"), "Get help now", color_scheme=styles.ACCENT, **styles.big_button),
            href=routes.REQUEST_FORM,
            width="100%",
            id="get-help",
        ),
        rx.callout(
            "On a motorway? Get out on the side away from traffic, stand behind the barrier, "
            "and call 999 if you are in danger.",
            icon="triangle-alert",
            color_scheme="red",
            width="100%",
        ),
        rx.heading("How it works", size="5", margin_top="0.5em"),
        _step("1", "Tell us where you are", "Share your phone's location, or type a postcode."),
        _step("2", "See your price and ETA at once", "The nearest van with the right kit is sent automatically."),
        _step("3", "Watch the van arrive", "Follow the technician live on a map until they are with you."),
        rx.text(
            "Prefer to talk? Call ",
            rx.link("0800 123 4567", href="tel:08001234567"),
            " — any time.",
        ),
        spacing="4",
        width="100%",
    )
