"""Skip a dependency for a while after it failed, so a stuck one costs one timeout per window, not one per call."""

from __future__ import annotations

import time
from collections.abc import Callable


class Breaker:
    """Closed (calls go through) until `trip()`; then open (skip the dependency) for `retry_s` seconds.

    With Redis stopped, a submission paid three Redis timeouts of a second each (two rate-limit checks and
    the event publish): 3 s, on every submission, in every thread. Behind a breaker the first call of a
    window pays the timeout and the others skip at once. Thread-safe enough: a race only lets a second call
    try Redis too.
    """

    def __init__(self, retry_s: float = 5.0, clock: Callable[[], float] = time.monotonic) -> None:
        self.retry_s = retry_s
        self.clock = clock
        self._open_until = 0.0

    @property
    def closed(self) -> bool:
        """True when the dependency may be called."""
        return self.clock() >= self._open_until

    def trip(self) -> None:
        self._open_until = self.clock() + self.retry_s
