"""Pieces shared by the staff pages. Who may call what is declared in `tyrehero_app.guard`."""

from __future__ import annotations

import reflex as rx


def logout_button() -> rx.Component:
    return rx.el.form(
        rx.button("Log out", type="submit", variant="soft", color_scheme="gray", size="2", id="logout"),
        action="/auth/logout",
        method="post",
        id="logout-form",
        on_submit=rx.run_script("document.getElementById('logout-form').submit()"),
    )


def denied_notice(text: rx.Var) -> rx.Component:
    return rx.callout(text, icon="lock", color_scheme="red", id="forbidden")


def staff_frame(title: str, user_name: rx.Var, *children: rx.Component, links: tuple[tuple[str, str], ...] = (),
                **props) -> rx.Component:  # type: ignore[no-untyped-def]
    """A desk page: a banner with the page's one `h1`, links, who is logged in and Log out; then `<main>`."""
    return rx.box(
        rx.el.header(rx.hstack(
            rx.heading(title, size="6", as_="h1"), rx.spacer(),
            rx.el.nav(rx.hstack(*[rx.link(text, href=href, class_name="th-tap", padding_y="0.6em")
                                  for text, href in links]), aria_label="Staff pages") if links else rx.fragment(),
            rx.text(user_name), logout_button(), width="100%", align="center", padding_bottom="0.5em")),
        rx.el.main(*children, width="100%", id="main"),
        padding="1em", width="100%", **props,
    )


def confirm_dialog(open_: rx.Var, title: rx.Var | str, body: rx.Component, confirm_label: rx.Var | str,
                   on_confirm, on_cancel, *, danger: bool = False, dialog_id: str = "confirm",
                   confirm_id: str = "confirm-yes") -> rx.Component:  # type: ignore[no-untyped-def]
    """A confirmation naming its target: a real dialog (focus kept inside, Escape or Cancel cancels).
    Open while `open_` holds; the handlers close it."""
    return rx.alert_dialog.root(
        rx.alert_dialog.content(
            rx.alert_dialog.title(title),
            rx.alert_dialog.description(rx.box(body), as_child=True),
            rx.hstack(
                rx.button("Cancel", variant="soft", color_scheme="gray", on_click=on_cancel, id=f"{dialog_id}-no"),
                rx.button(confirm_label, color_scheme="red" if danger else "amber", on_click=on_confirm,
                          id=confirm_id),
                justify="end", spacing="3", margin_top="1em",
            ),
            id=dialog_id,
        ),
        open=open_,
        on_open_change=lambda _o: on_cancel,
    )
