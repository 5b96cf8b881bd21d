"""`/rate/<token>`: the driver rates a completed visit, one tap for 1-5 stars and a comment if they like."""

from __future__ import annotations

import asyncio
from urllib.parse import urlparse

import reflex as rx

from core.errors import IllegalTransition, LinkExpired, NotFound, Unavailable
from core.requests.rating import COMMENT_MAX, AlreadyRated, RatingIn, RatingView, rate, rating_view
from tyrehero_app import routes, styles
from tyrehero_app.components.layout import layout
from tyrehero_app.guard import Declared, public
from tyrehero_app.runtime import get_core

STAR_WORDS = {1: "Poor", 2: "Not good", 3: "OK", 4: "Good", 5: "Excellent"}


class RateState(Declared, rx.State):
    """One visit, as the holder of its rating link sees it."""

    token: str = ""
    loaded: bool = False
    gone: str = ""  # why the link shows nothing: unknown or expired
    reference: str = ""
    technician: str = ""
    status_text: str = ""
    can_rate: bool = False
    stars: int = 0  # the rating once given
    given_comment: str = ""
    comment: str = ""  # what the driver typed, sent with the tap
    notice: str = ""
    error: str = ""

    def _show(self, v: RatingView) -> None:
        self.loaded, self.gone = True, ""
        self.reference, self.technician, self.status_text = v.reference, v.technician_first_name or "", v.status_text
        self.can_rate = v.can_rate
        self.stars, self.given_comment = v.stars or 0, v.comment or ""

    async def _read(self) -> None:
        try:
            self._show(await asyncio.to_thread(rating_view, get_core(), self.token))
        except NotFound as e:  # LinkExpired too: its words say why
            self.loaded, self.gone = True, e.message if isinstance(e, LinkExpired) else "unknown"
        except Unavailable:
            self.error = f"We cannot open this page right now. Call us on {get_core().settings.support_phone}."

    @public
    async def load(self) -> None:
        self.token = urlparse(str(self.router.url)).path.rstrip("/").rsplit("/", 1)[-1]
        self.notice = self.error = ""
        await self._read()

    @public
    def set_comment(self, value: str) -> None:
        self.comment = str(value)[:COMMENT_MAX]

    @public
    async def rate(self, stars: int) -> None:
        """One tap: the stars and whatever comment was typed, stored once."""
        self.error = ""
        try:
            rating = RatingIn.model_validate({"stars": stars, "comment": self.comment})
            self._show(await asyncio.to_thread(rate, get_core(), self.token, rating))
            self.notice, self.comment = "Thank you: your rating helps us and our technicians.", ""
        except AlreadyRated as e:
            self.notice = e.message
            await self._read()
        except IllegalTransition as e:
            self.error = e.message
        except NotFound as e:
            self.gone = e.message if isinstance(e, LinkExpired) else "unknown"
        except Unavailable:
            self.error = f"We cannot save your rating right now. Call us on {get_core().settings.support_phone}."
        except ValueError:  # a script's payload, not the page's buttons
            self.error = "Choose from 1 to 5 stars."


def _gone() -> rx.Component:
    return rx.vstack(
        rx.heading("We couldn't open that rating link", size="6"),
        rx.cond(RateState.gone == "unknown",
                rx.text("The link may be incomplete. Open it again from our text message."),
                rx.text(RateState.gone)),
        rx.link(rx.button("Ask for help", color_scheme=styles.ACCENT, **styles.big_button), href=routes.HOME,
                width="100%"),
        id="rate-gone", spacing="4", width="100%",
    )


def _star(n: int) -> rx.Component:
    return rx.button(
        rx.vstack(rx.text("★" * n, size="5"), rx.text(STAR_WORDS[n], size="2"), spacing="0", align="center"),
        on_click=RateState.rate(n), id=f"star-{n}", color_scheme=styles.ACCENT, variant="soft",
        size="4", width="100%", min_height="64px",
    )


def _form() -> rx.Component:
    return rx.vstack(
        rx.heading(rx.cond(RateState.technician != "", f"How was {RateState.technician}'s visit?",
                           "How was our visit?"), size="6", id="rate-question"),
        rx.text("Reference ", rx.text.strong(RateState.reference)),
        rx.text_area(placeholder="Anything to tell us? (optional)", max_length=COMMENT_MAX, id="comment",
                     on_blur=RateState.set_comment, width="100%", rows="3"),
        rx.text("Tap to rate:", size="3", weight="bold"),
        *[_star(n) for n in (5, 4, 3, 2, 1)],
        spacing="3", width="100%", id="rate-form",
    )


def _rated() -> rx.Component:
    return rx.vstack(
        rx.heading("Your rating", size="6"),
        rx.text("Visit ", rx.text.strong(RateState.reference)),
        rx.text(rx.text.strong(RateState.stars, id="given-stars"), " of 5 stars", size="5"),
        rx.cond(RateState.given_comment != "", rx.blockquote(RateState.given_comment, id="given-comment")),
        spacing="3", width="100%", id="rated",
    )


def _not_yet() -> rx.Component:
    return rx.vstack(
        rx.heading("Not ready to rate yet", size="6"),
        rx.text("Your request ", rx.text.strong(RateState.reference), " is ", RateState.status_text,
                ". You can rate the visit here once the job is completed."),
        spacing="3", width="100%", id="rate-not-yet",
    )


@layout
def rating_page() -> rx.Component:
    return rx.vstack(
        rx.cond(RateState.notice != "", rx.callout(RateState.notice, color_scheme="green", width="100%", id="notice")),
        rx.cond(RateState.error != "", rx.callout(RateState.error, color_scheme="red", width="100%", id="rate-error")),
        rx.cond(
            RateState.gone != "",
            _gone(),
            rx.cond(
                RateState.loaded,
                rx.cond(RateState.stars > 0, _rated(), rx.cond(RateState.can_rate, _form(), _not_yet())),
                rx.center(rx.spinner(size="3"), width="100%", padding="3em"),
            ),
        ),
        width="100%",
    )
