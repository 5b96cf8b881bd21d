"""Prices as an admin reads and types them: pounds, percent and hours, never raw pence; and what a
change would do, as an old -> new list and an example quote, shown before anything is saved."""

from __future__ import annotations

import dataclasses
from datetime import datetime
from decimal import Decimal, InvalidOperation

from pydantic import BaseModel
from sqlmodel import Session

from core.context import Core
from core.errors import ValidationFailed
from core.principal import Principal, Role
from core.requests.pricing import LONDON, PriceTable, quote_pence
from core.schemas import Issue
from core.staff.views import saved_prices

# name -> (label, unit): "pounds" fields are stored in pence.
PRICE_FIELDS: dict[str, tuple[str, str]] = {
    "callout_pence": ("Call-out charge", "pounds"),
    "per_tyre_pence": ("Per tyre", "pounds"),
    "wheel_repair_pence": ("Wheel repair", "pounds"),
    "locking_nut_pence": ("Locking wheel nut removal", "pounds"),
    "motorway_pence": ("Motorway surcharge", "pounds"),
    "large_vehicle_pct": ("SUV, 4x4 or van surcharge", "percent"),
    "night_pct": ("Night surcharge", "percent"),
    "weekend_pct": ("Weekend surcharge", "percent"),
    "night_start_hour": ("Night starts at (hour)", "hour"),
    "night_end_hour": ("Night ends at (hour)", "hour"),
}
assert set(PRICE_FIELDS) == {f.name for f in dataclasses.fields(PriceTable)}, "a price has no label"

# The example every preview prices: a puncture on a car, off the motorway, on a weekday afternoon.
EXAMPLE = "A puncture on a car, weekday afternoon"
EXAMPLE_AT = datetime(2026, 1, 7, 14, 0, tzinfo=LONDON)  # a Wednesday


def pounds(pence: int) -> str:
    return f"£{pence / 100:,.2f}"


def shown(name: str, value: int) -> str:
    """A stored price value as the admin reads it: "£49.00", "20%", "20:00"."""
    unit = PRICE_FIELDS[name][1]
    return pounds(value) if unit == "pounds" else f"{value}%" if unit == "percent" else f"{value:02d}:00"


def typed(name: str, value: int) -> str:
    """A stored value as the form's input shows it: "49.00", "20"."""
    return f"{value / 100:.2f}" if PRICE_FIELDS[name][1] == "pounds" else str(value)


def parse_price_form(form: dict[str, object]) -> dict[str, int]:
    """The price form (pounds with up to 2 decimals, whole percent and hours) as stored values.
    Blank fields are left out; each bad field gets its own message in `ValidationFailed`."""
    values: dict[str, int] = {}
    errors: dict[str, str] = {}
    for name, raw in form.items():
        if name not in PRICE_FIELDS:
            errors[name] = "This is not a price we know."
            continue
        text = str(raw).strip().removeprefix("£").removesuffix("%").replace(",", "")
        if text == "":
            continue
        label, unit = PRICE_FIELDS[name]
        try:
            number = Decimal(text)
        except InvalidOperation:
            number = Decimal("NaN")
        if unit == "pounds":
            if not number.is_finite() or number < 0 or number > 1000 or number != number.quantize(Decimal("0.01")):
                errors[name] = f"{label}: an amount in pounds from 0 to 1000, like 49.00."
            else:
                values[name] = int(number * 100)
        elif unit == "percent":
            if not number.is_finite() or number != number.to_integral_value() or not 0 <= number <= 200:
                errors[name] = f"{label}: a whole percentage from 0 to 200, like 20."
            else:
                values[name] = int(number)
        else:
            if not number.is_finite() or number != number.to_integral_value() or not 0 <= number <= 23:
                errors[name] = f"{label}: an hour of the day from 0 to 23, like 20 for 8 pm."
            else:
                values[name] = int(number)
    if errors:
        raise ValidationFailed(errors)
    return values


class PriceChange(BaseModel):
    name: str
    label: str
    old: str
    new: str


class PricePreview(BaseModel):
    """What saving would change: each changed price old -> new, and the example quote before and after."""

    changes: list[PriceChange]
    example: str
    example_old: str
    example_new: str
    values: dict[str, int]  # what saving would store (the changed prices only)


def preview_prices(core: Core, who: Principal, values: dict[str, int]) -> PricePreview:
    """The preview the admin confirms before `admin.save_prices` runs, against the prices in force now.
    Refused to anyone but an admin."""
    who.require(Role.ADMIN)
    with Session(core.engine) as s:
        current = saved_prices(s)
    changed = {k: v for k, v in values.items() if getattr(current, k) != v}
    new = dataclasses.replace(current, **changed)
    example_old = quote_pence(Issue.PUNCTURE, "car", False, EXAMPLE_AT, current)
    example_new = quote_pence(Issue.PUNCTURE, "car", False, EXAMPLE_AT, new)
    return PricePreview(
        changes=[PriceChange(name=k, label=PRICE_FIELDS[k][0], old=shown(k, getattr(current, k)), new=shown(k, v))
                 for k, v in changed.items()],
        example=EXAMPLE, example_old=pounds(example_old), example_new=pounds(example_new), values=changed)
