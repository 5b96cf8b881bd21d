"""Priority of a request: 1 is most urgent."""

from __future__ import annotations

from core.schemas import Issue

_BASE = {
    Issue.BLOWOUT: 2,
    Issue.DAMAGED_WHEEL: 2,
    Issue.PUNCTURE: 3,
    Issue.FLAT: 3,
    Issue.LOCKING_NUT_LOST: 4,
    Issue.OTHER: 4,
}


def priority(issue: Issue, on_motorway: bool, vulnerable: bool) -> int:
    """A stranded motorway driver or vulnerable people in the car come first."""
    p = _BASE[issue]
    if on_motorway:
        p -= 1
    if vulnerable:
        p -= 1
    return max(1, p)


def effective_priority(priority_level: int, waiting_minutes: float, sla_minutes: int = 90) -> float:
    """Lower is more urgent; waiting ages a request up one level per third of the SLA."""
    return priority_level - waiting_minutes / (sla_minutes / 3)
