"""What the pages promise about texts, next to what is texted: the form and the tracking page print these
words, and `tests/integration/notify/test_promises.py` runs a request's life through the relay and checks
that each promised text went out, in this order, carrying the page's own tracking link."""

from __future__ import annotations

# (template, the words that promise it), in the order a request's texts go out (core.notify.templates).
PROMISED_TEXTS: tuple[tuple[str, str], ...] = (
    ("received", "this tracking link"),
    ("assigned", "who is coming"),
    ("en_route", "when they set off"),
    ("arriving", "when they are about 5 minutes away"),
    ("completed", "your receipt"),
)


def _listed(words: list[str]) -> str:
    return ", ".join(words[:-1]) + " and " + words[-1]


_WORDS = [w for _, w in PROMISED_TEXTS]
# Under the form's phone field: the number typed is where these go.
FORM_PROMISE = f"We text this number {_listed(['your tracking link', *_WORDS[1:]])}."
# On the tracking page while the request is open.
TRACKING_PROMISE = f"We text you {_WORDS[0]}, then {_listed(_WORDS[1:])}: you can close this page."
