"""A load-test user's schedule: one task every `period` seconds, at the user's own phase.

Locust's `constant_pacing` counts a user's first wait from when the user was created, not from when
its `on_start` finished, so users spawned together fire together every period whatever phase they
slept to first: 100 customers "at 1/s each" arrived as one burst of 100 each second, and the
server's answer times were mostly the time spent queued behind the rest of the burst.
"""

from __future__ import annotations


class Pacing:
    """Slots at `start`, `start + period`, ...; a task that overruns its slot is followed at once by
    the next, and the slots it missed are dropped rather than fired in a burst to catch up."""

    def __init__(self, period: float, start: float) -> None:
        if period <= 0:
            raise ValueError("period must be positive")
        self.period = period
        self.due = start

    def wait(self, now: float) -> float:
        """Seconds from `now` (after a task ended) until the next task should start."""
        self.due = max(self.due + self.period, now)
        return self.due - now
