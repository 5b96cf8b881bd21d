"""A yardstick for the machine a benchmark ran on.

The same code measured up to 3x apart on different days of the same kind of machine; printing this
beside the figures says which kind of day they come from.
"""

from __future__ import annotations

import time


def yardstick_s() -> float:
    """Seconds for a fixed pure-Python loop (five million additions), best of three: lower is a faster machine."""
    best = float("inf")
    for _ in range(3):
        start = time.perf_counter()
        total = 0
        for i in range(5_000_000):
            total += i
        best = min(best, time.perf_counter() - start)
    return round(best, 3)


if __name__ == "__main__":
    print(f"machine yardstick: {yardstick_s()} s (lower is faster)")
