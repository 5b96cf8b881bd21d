"""What the driver is promised before sending: the price, and whether a van can come within the SLA.

The quote is `pricing.quote_pence` with the admin's price table, exactly as intake stores it; the ETA is
the best free suitable van's, from the technician index, as auto-dispatch would find it.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from core.context import Core
from core.dispatch.auto import dispatch_filter, reach_minutes
from core.infra.db import translates_outages
from core.infra.ratelimit import Limit, rate_key_for_address
from core.models import utcnow
from core.requests.pricing import quote_pence
from core.schemas import Issue, VehicleType, required_capabilities
from core.staff.admin import price_table


@translates_outages
def quote(core: Core, issue: Issue, vehicle_type: VehicleType, on_motorway: bool, at: datetime | None = None) -> int:
    """The price in pence a request sent at `at` (default now) is stored with."""
    return quote_pence(issue, vehicle_type.value, on_motorway, at or utcnow(), price_table(core))


def best_eta(core: Core, lat: float, lng: float, capabilities: list[str]) -> float | None:
    """Minutes for the nearest free van that could take the request; None when none is free and near enough."""
    found = core.index.nearest(lat, lng, 1, dispatch_filter(core, capabilities))
    return found[0].eta_minutes if found else None


def in_reach(core: Core, eta_minutes: float | None) -> bool:
    """Whether auto-dispatch would send a van that far (core.dispatch.auto.reach_minutes)."""
    return eta_minutes is not None and eta_minutes <= reach_minutes(core)


@dataclass(frozen=True)
class Promise:
    quote_pence: int
    eta_minutes: int | None  # the best free van's, None when no van is free and near enough
    sla_minutes: int
    within_sla: bool  # the best van would arrive within the promise
    in_reach: bool  # auto-dispatch would send it (within the SLA plus the margin)


def count_lookup(core: Core, client: str | None) -> None:
    """One look-up by a form not yet sent (its place, price or ETA), counted per client address; RateLimited
    past RATE_LIMIT_LOOKUPS_PER_IP in 10 minutes. The form's events are public: anyone can send them."""
    if not client:
        return
    core.limiter.hit(f"lookup-ip:{rate_key_for_address(client)}", Limit(core.settings.rate_limit_lookups_per_ip, 600),
                     f"Too many look-ups from this connection: wait a few minutes, or call us on "
                     f"{core.settings.support_phone}.")


@translates_outages
def promise(core: Core, lat: float, lng: float, issue: Issue, vehicle_type: VehicleType, on_motorway: bool,
            run_flat: bool = False, at: datetime | None = None) -> Promise:
    """The price and the honest ETA for a request at (lat, lng), before it is sent."""
    eta = best_eta(core, lat, lng, required_capabilities(issue, vehicle_type, run_flat))
    sla = core.settings.sla_minutes
    return Promise(
        quote_pence=quote(core, issue, vehicle_type, on_motorway, at),
        eta_minutes=None if eta is None else max(1, round(eta)),
        sla_minutes=sla,
        within_sla=eta is not None and eta <= sla,
        in_reach=in_reach(core, eta),
    )
