"""The technician phone's read model: what one refresh of `/tech` shows, read by one call.

`jobs.shift_view` and `jobs.job_view` stay the services (the API serves them apart); the page asks
for both at once, and a database outage comes out as the core's `Unavailable`."""

from __future__ import annotations

from dataclasses import dataclass

from core.context import Core
from core.infra.db import translates_outages
from core.principal import Principal
from core.schemas import JobView
from core.technicians.jobs import ShiftView, job_view, shift_view


@dataclass(frozen=True)
class PhoneView:
    """The technician's shift and their active job (None when they hold none)."""

    shift: ShiftView
    job: JobView | None


@translates_outages
def phone_view(core: Core, who: Principal) -> PhoneView:
    """The calling technician's own shift and job; `NotFound` when the account has no technician."""
    return PhoneView(shift_view(core, who), job_view(core, who))
