"""Quotes in pence from a small price table."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from zoneinfo import ZoneInfo

from core.schemas import Issue

LONDON = ZoneInfo("Europe/London")


@dataclass(frozen=True)
class PriceTable:
    callout_pence: int = 4900
    per_tyre_pence: int = 8900
    wheel_repair_pence: int = 6500
    locking_nut_pence: int = 4500
    motorway_pence: int = 2500
    large_vehicle_pct: int = 20
    night_pct: int = 25  # 20:00-06:59 UK time
    weekend_pct: int = 15
    night_start_hour: int = 20
    night_end_hour: int = 7


DEFAULT_PRICES = PriceTable()


def quote_pence(
    issue: Issue,
    vehicle_type: str,
    on_motorway: bool,
    at: datetime,
    table: PriceTable = DEFAULT_PRICES,
) -> int:
    """Call-out + the work for the issue, then the surcharges; rounded to whole pounds."""
    work = {
        Issue.DAMAGED_WHEEL: table.wheel_repair_pence,
        Issue.LOCKING_NUT_LOST: table.locking_nut_pence,
    }.get(issue, table.per_tyre_pence)
    total = table.callout_pence + work + (table.motorway_pence if on_motorway else 0)
    pct = 0
    if vehicle_type != "car":
        pct += table.large_vehicle_pct
    local = at.astimezone(LONDON)
    if local.hour >= table.night_start_hour or local.hour < table.night_end_hour:
        pct += table.night_pct
    if local.weekday() >= 5:
        pct += table.weekend_pct
    total = total * (100 + pct) // 100
    return (total + 50) // 100 * 100
