"""The load driver's schedule keeps each user at its own phase, so arrivals stay spread out."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from bench.pacing import Pacing


def test_users_keep_the_phases_they_start_at() -> None:
    # Ten users created at t=0 who first slept to phases 0.0, 0.1, ... 0.9 of a 1 s period.
    users = [(Pacing(1.0, start=k / 10), k / 10) for k in range(10)]
    starts: list[float] = []
    for p, t in users:
        for _ in range(5):
            starts.append(t)
            t += 0.02  # the task
            t += p.wait(t)
    # Every second, one start in each tenth of it: never two users in the same instant.
    assert sorted(round(s % 1.0, 6) for s in starts if s >= 1.0) == sorted(
        round(k / 10, 6) for k in range(10) for _ in range(4)
    )


@given(period=st.floats(0.05, 30), start=st.floats(0, 100),
       tasks=st.lists(st.floats(0, 60), min_size=1, max_size=50))
def test_tasks_start_on_slots_or_at_once_after_an_overrun(period: float, start: float, tasks: list[float]) -> None:
    p = Pacing(period, start)
    t = start
    for length in tasks:
        end = t + length
        nxt = end + p.wait(end)
        assert nxt >= end  # never a negative wait
        assert nxt - t >= min(period, length) - 1e-9  # never two starts closer than a period unless overrun
        if length <= period:  # on time: the next slot exactly
            assert nxt == pytest.approx(t + period)
        else:  # overran: start now, no burst of missed slots
            assert nxt == pytest.approx(end)
        t = nxt


def test_a_period_must_be_positive() -> None:
    with pytest.raises(ValueError):
        Pacing(0, 0.0)
