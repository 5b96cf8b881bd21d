"""A clock a test moves by hand, for code that takes `clock: Callable[[], float]` (TTLs without sleeping)."""

from __future__ import annotations


class FakeClock:
    """Monotonic seconds that only move when the test says so."""

    def __init__(self, start: float = 1_000.0) -> None:
        self.now = start

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += seconds
