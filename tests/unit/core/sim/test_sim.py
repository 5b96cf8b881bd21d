"""Invariants of the surge simulator, on a reduced day (a few seconds)."""

from __future__ import annotations

import dataclasses
import random
from collections import defaultdict

import pytest

from core.dispatch.batch import FreeTech, TechTable, WaitingRequest
from core.index.base import TechFilter
from core.index.search import search_nearest
from core.sim import SimConfig, SimResult, markdown_table, simulate, summarise
from core.sim.cells import MemoryCellSource
from core.sim.demand import Scenario, generate_requests
from core.sim.lookup import CachedLookup

# Three hours of calls with a 4x surge in the second, on a night shift of ~14 vans: a queue forms.
MINI = Scenario("mini", requests_per_day=2000, surge_factor=4.0, surge_hours=(1, 2))


def mini(policy: str, seed: int = 3, audit_every: int = 0) -> SimResult:
    return simulate(SimConfig(MINI, policy, seed=seed, fleet_size=60, hours=3, audit_every=audit_every))


@pytest.fixture(scope="module", params=["greedy", "batch"])
def audited(request: pytest.FixtureRequest) -> SimResult:
    """A run that checked every invariant each round, and look-ups against fresh searches."""
    return mini(request.param, audit_every=20)


def test_the_reduced_day_is_busy_enough_to_mean_something(audited: SimResult) -> None:
    s = summarise(audited)
    assert s.requests > 50, f"s.requests is {s.requests!r}, wanted > 50"
    assert max(audited.queue) >= 10, "wanted max(audited.queue) >= 10"
    assert audited.searches > 0, f"audited.searches is {audited.searches!r}, wanted > 0"
    assert s.served > 0, f"s.served is {s.served!r}, wanted > 0"
    assert audited.claims_lost == 0, f"audited.claims_lost is {audited.claims_lost!r}, wanted 0"


def test_same_seed_same_figures(audited: SimResult) -> None:
    again = mini(audited.config.policy)  # without the audit, which only looks
    assert dataclasses.replace(summarise(again), seconds=0) == dataclasses.replace(summarise(audited), seconds=0)
    assert again.outcomes == audited.outcomes, f"again.outcomes is {again.outcomes!r}, wanted audited.outcomes"
    assert again.queue == audited.queue, f"again.queue is {again.queue!r}, wanted audited.queue"
    assert again.jobs == audited.jobs, f"again.jobs is {again.jobs!r}, wanted audited.jobs"
    assert [r.t for r in generate_requests(MINI, 4, 3)] != [r.t for r in audited.requests]


def test_every_request_ends_served_or_unserved_never_both(audited: SimResult) -> None:
    for r in audited.requests:
        o = audited.outcomes[r.id]
        states = [o.on_site_t is not None, o.abandoned_t is not None, r.id in audited.unsettled]
        assert sum(states) == 1, (r.id, o)
        if o.on_site_t is not None:
            # type: ignore[operator]
            assert o.technician_id is not None, "o.technician_id is missing"
            assert r.t <= o.assigned_t <= o.on_site_t, "wanted r.t <= o.assigned_t <= o.on_site_t"
            assert o.abandoned_t is None
        else:
            assert o.assigned_t is None, f"o.assigned_t is {o.assigned_t!r}, wanted None"
            assert o.technician_id is None, f"o.technician_id is {o.technician_id!r}, wanted None"
        if o.abandoned_t is not None:
            assert o.abandoned_t == pytest.approx(r.t + audited.config.abandon_min)
    s = summarise(audited)
    assert s.served + s.unserved == s.requests


def test_a_technician_is_never_on_two_jobs_at_once(audited: SimResult) -> None:
    by_tech = defaultdict(list)
    for tech, request, claimed, done in audited.jobs:
        by_tech[tech].append((claimed, done, request))
        assert audited.outcomes[request].technician_id == tech
    for jobs in by_tech.values():
        jobs.sort()
        for (_c1, done, _r1), (claimed, _d2, _r2) in zip(jobs, jobs[1:], strict=False):
            assert done <= claimed
    served = [r for r, o in audited.outcomes.items() if o.on_site_t is not None]
    assert sorted(j[1] for j in audited.jobs) == sorted(served)


def test_the_report_is_a_markdown_table(audited: SimResult) -> None:
    table = markdown_table([summarise(audited)]).splitlines()
    assert table[0].startswith("| scenario | policy |"), "wanted table[0].startswith('| scenario | policy |')"
    assert len(table) == 3, "wanted len(table) == 3"
    assert f"| mini | {audited.config.policy} |" in table[2]


def test_memory_index_search_finds_the_true_nearest() -> None:
    """The app's search over the in-memory cells agrees with brute force, as it does over Redis."""
    rng = random.Random(5)
    source = MemoryCellSource()
    free = []
    for i in range(300):
        lat, lng = rng.uniform(50.5, 55.5), rng.uniform(-4.5, 0.5)
        status = rng.choice(["available", "available", "assigned"])
        source.upsert(i, lat, lng, status, frozenset())
        if rng.random() < 0.3:  # a move: out of the old cell, into the new one
            lat, lng = lat + 0.05, lng - 0.05
            source.upsert(i, lat, lng, status, frozenset())
        if status == "available":
            free.append(FreeTech(i, lat, lng))
    source.audit()
    brute = TechTable(free)
    for _ in range(30):
        q = WaitingRequest(0, rng.uniform(50.5, 55.5), rng.uniform(-4.5, 0.5), 3, 0.0)
        found = search_nearest(source, q.lat, q.lng, 8, TechFilter(), brute.eta, now=0.0)
        assert [c.technician_id for c in found] == [o.technician_id for o in brute(q, 8, frozenset())]
        cached = CachedLookup(source, 8, audit_every=1)  # the audit compares with a fresh search
        assert [o.technician_id for o in cached(q, 8, frozenset())] == [c.technician_id for c in found]
