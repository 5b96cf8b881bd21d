"""The texts we send: plain, kind, GSM-7 only, one SMS segment wherever the facts allow.

Every template is rendered from `Facts` (what the recipient already knows: the request's reference, the
technician's first name, the van, the ETA, the price, their links) and nothing else. Values that come from
people (names, van labels, places) are folded into the GSM-7 alphabet, so no text ever switches to UCS-2,
which would cut a segment from 160 characters to 70. `tests/unit/notify/test_templates.py` renders each
one with the longest realistic values and counts it with the GSM 03.38 rules."""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Callable
from dataclasses import dataclass

# GSM 03.38 basic character set (one septet each) and its extension table (two septets: escape + char).
GSM7_BASIC = frozenset(
    "@£$¥èéùìòÇ\nØø\rÅåΔ_ΦΓΛΩΠΨΣΘΞÆæßÉ !\"#¤%&'()*+,-./0123456789:;<=>?"
    "¡ABCDEFGHIJKLMNOPQRSTUVWXYZÄÖÑÜ§¿abcdefghijklmnopqrstuvwxyzäöñüà"
)
GSM7_EXTENDED = frozenset("^{}\\[~]|€\f")
SEGMENT = 160  # septets in a single-part SMS
CONCAT_SEGMENT = 153  # septets per part of a multi-part SMS (the rest is the concatenation header)


def gsm7_length(text: str) -> int:
    """Septets `text` takes in GSM-7; ValueError naming the first character outside the alphabet."""
    n = 0
    for ch in text:
        if ch in GSM7_BASIC:
            n += 1
        elif ch in GSM7_EXTENDED:
            n += 2
        else:
            raise ValueError(f"{ch!r} (U+{ord(ch):04X}) is not in the GSM-7 alphabet")
    return n


def segments(text: str) -> int:
    """SMS parts `text` is sent as (GSM-7)."""
    n = gsm7_length(text)
    return 1 if n <= SEGMENT else -(-n // CONCAT_SEGMENT)


_PUNCTUATION = {"‘": "'", "’": "'", "“": '"', "”": '"', "–": "-", "—": "-", "…": "...", "\u00a0": " "}


def gsm7(value: str) -> str:
    """`value` in the basic GSM-7 alphabet: accents dropped where GSM-7 lacks the letter (Zoë -> Zoe), curly
    quotes and dashes made plain, extension characters and anything else made a space or '?'."""
    out = []
    for ch in value:
        ch = _PUNCTUATION.get(ch, ch)
        if len(ch) > 1 or (ch in GSM7_BASIC and ch not in "\n\r"):  # a replacement, or a GSM-7 character
            out.append(ch)
        elif ch.isspace() or ch in GSM7_EXTENDED:
            out.append(" ")
        else:
            base = "".join(c for c in unicodedata.normalize("NFKD", ch) if not unicodedata.combining(c))
            out.append(base if base and all(c in GSM7_BASIC for c in base) else "?")
    return " ".join("".join(out).split())


def _cut(value: str, limit: int) -> str:
    value = gsm7(value)
    return value if len(value) <= limit else value[: limit - 3].rstrip() + "..."


def pounds(pence: int) -> str:
    """£89 or £89.50."""
    whole, part = divmod(pence, 100)
    return f"£{whole:,}" + (f".{part:02d}" if part else "")


@dataclass(frozen=True)
class Facts:
    """What a text may say: only what its recipient already knows."""

    reference: str
    tracking_url: str
    home_url: str
    support_phone: str
    technician: str | None = None  # first name
    van: str | None = None  # the van's label (or registration), as the tracking page shows it
    eta_minutes: int | None = None
    price_pence: int | None = None
    rating_url: str | None = None
    by_customer: bool = False  # a cancellation the customer asked for
    issue: str | None = None  # for the technician's offer
    place: str | None = None  # for the technician's offer
    offer_minutes: int = 2
    tech_url: str = ""


def _who(f: Facts) -> str:
    return _cut(f.technician or "Your technician", 20)


def _van(f: Facts) -> str:
    return f" in a {_cut(f.van, 22)}" if f.van else ""


def _eta(f: Facts) -> str:
    return f", about {f.eta_minutes} min away" if f.eta_minutes else ""


def received(f: Facts) -> str:
    return (f"TyreHero has your request {f.reference}. We'll text you when a van is on its way. "
            f"Track it: {f.tracking_url}")


def assigned(f: Facts) -> str:
    return f"TyreHero: {_who(f)} is coming{_van(f)}{_eta(f)}. Track: {f.tracking_url}"


def en_route(f: Facts) -> str:
    return f"TyreHero: {_who(f)} is on the way{_eta(f)}. Wait somewhere safe. Track: {f.tracking_url}"


def arriving(f: Facts) -> str:
    return f"TyreHero: {_who(f)} is about 5 minutes away. Please wait somewhere safe. Track: {f.tracking_url}"


def on_site(f: Facts) -> str:
    van = f"the {_cut(f.van, 24)}" if f.van else "them"
    return f"TyreHero: {_who(f)} has arrived. Can't see {van}? Call us on {f.support_phone}."


def completed(f: Facts) -> str:
    price = f" Price {pounds(f.price_pence)}." if f.price_pence is not None else ""
    return f"TyreHero: job {f.reference} done.{price} Thank you! How did we do? {f.rating_url}"


def cancelled(f: Facts) -> str:
    if f.by_customer:
        return (f"TyreHero: request {f.reference} is cancelled, as you asked. Need us again? {f.home_url} "
                f"or call {f.support_phone}")
    return (f"TyreHero: sorry, we had to cancel request {f.reference}. Please call us on {f.support_phone} "
            "and we'll help.")


def requeued(f: Facts) -> str:
    return f"TyreHero: sorry, your technician can't come after all. We're finding another van now. {f.tracking_url}"


def tracking_link(f: Facts) -> str:
    return f"TyreHero: here is the link to follow request {f.reference}: {f.tracking_url}"


def offer(f: Facts) -> str:
    what = _cut(f.issue or "Job", 24)
    where = f", {_cut(f.place, 40)}" if f.place else ""
    return (f"TyreHero job offer {f.reference}: {what}{where}. Accept within {f.offer_minutes} min: "
            f"{f.tech_url}")


TEMPLATES: dict[str, Callable[[Facts], str]] = {
    "received": received, "assigned": assigned, "en_route": en_route, "arriving": arriving, "on_site": on_site,
    "completed": completed, "cancelled": cancelled, "requeued": requeued, "tracking_link": tracking_link,
    "offer": offer,
}


_LINK_TOKEN = re.compile(r"(/(?:track|rate)/[A-Za-z0-9_-]{4})[A-Za-z0-9_-]+")


def masked(body: str) -> str:
    """A text as staff and logs may show it: the tracking and rating links' tokens cut to their first 4
    characters (a token lets whoever holds it follow, cancel or rate the request)."""
    return _LINK_TOKEN.sub(r"\1****", body)


def render(template: str, facts: Facts) -> str:
    """The text of `template` for `facts`; KeyError for a template nobody wrote."""
    return TEMPLATES[template](facts)
