"""Batch vs greedy assignment on crafted cases, and properties of both."""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st

from core.dispatch.batch import (
    FreeTech,
    TechTable,
    WaitingRequest,
    batch_assign,
    cost_matrix,
    greedy_assign,
    pair_cost,
    window,
)
from core.geo.eta import StraightLineEta

LAT, LNG = 52.0, -1.0  # requests and vans on one east-west line in the English Midlands
KM = 1 / (111.32 * 0.6157)  # degrees of longitude per km at 52N
ETA = StraightLineEta()


def req(
    i: int, x_km: float, priority: int = 3, waited: float = 0.0, caps: frozenset[str] = frozenset()
) -> WaitingRequest:
    return WaitingRequest(i, LAT, LNG + x_km * KM, priority, waited, caps)


def tech(i: int, x_km: float, caps: frozenset[str] = frozenset()) -> FreeTech:
    return FreeTech(i, LAT, LNG + x_km * KM, caps)


def total_eta(pairs) -> float:
    return sum(p.eta_minutes for p in pairs)


def test_classic_case_where_nearest_first_is_worse_in_total() -> None:
    # Request 1 (older) at 0 km and request 2 at 6 km; van 10 at 5 km and van 20 at -6 km.
    requests = [req(1, 0, waited=10), req(2, 6, waited=5)]
    techs = [tech(10, 5), tech(20, -6)]
    greedy = greedy_assign(requests, techs)
    batch = batch_assign(requests, techs)
    assert {(p.request_id, p.technician_id) for p in greedy} == {(1, 10), (2, 20)}
    assert {(p.request_id, p.technician_id) for p in batch} == {(1, 20), (2, 10)}
    assert total_eta(batch) < total_eta(greedy) - 10


def test_capabilities_are_never_broken() -> None:
    van = frozenset({"van"})
    requests = [req(1, 0, caps=van), req(2, 1)]
    techs = [tech(10, 0), tech(20, 30, caps=van)]
    for assign in (batch_assign, greedy_assign):
        assert {(p.request_id, p.technician_id) for p in assign(requests, techs)} == {(1, 20), (2, 10)}
    assert batch_assign([req(1, 0, caps=van)], [tech(10, 0)]) == []


def test_one_van_goes_where_a_promise_can_still_be_kept() -> None:
    # Request 1 is already past the SLA; request 2 can still be reached in time. Greedy serves the oldest.
    requests = [req(1, 0, waited=100), req(2, 0.5, waited=60)]
    techs = [tech(10, 1)]
    assert [p.request_id for p in greedy_assign(requests, techs)] == [1]
    assert [p.request_id for p in batch_assign(requests, techs)] == [2]


def test_priority_breaks_a_tie() -> None:
    requests = [req(1, -2, priority=3, waited=5), req(2, 2, priority=1, waited=5)]
    assert [p.request_id for p in batch_assign(requests, [tech(10, 0)])] == [2]


def test_window_puts_requests_still_on_time_first() -> None:
    late, fresh, urgent = req(1, 0, waited=120), req(2, 0, waited=10), req(3, 0, priority=1, waited=30)
    assert [r.id for r in window([late, fresh, urgent], 90, limit=2)] == [3, 2]


def test_candidates_are_limited_to_the_k_nearest() -> None:
    requests = [req(1, 0)]
    techs = [tech(i, i) for i in range(1, 30)]
    costs, _etas, tech_ids = cost_matrix(requests, {1: TechTable(techs)(requests[0], 5, frozenset())}, 90)
    assert tech_ids == [1, 2, 3, 4, 5], f"tech_ids is {tech_ids!r}, wanted [1, 2, 3, 4, 5]"
    assert costs.shape == (1, 5), f"costs.shape is {costs.shape!r}, wanted (1, 5)"


@given(st.floats(0, 300), st.floats(0, 300), st.floats(0, 400), st.integers(1, 4))
def test_cost_never_prefers_a_farther_van(a: float, b: float, waited: float, priority: int) -> None:
    r = req(1, 0, priority=priority, waited=waited)
    lo, hi = sorted((a, b))
    assert pair_cost(r, lo, 90) <= pair_cost(r, hi, 90)


CAPS = st.frozensets(st.sampled_from(["van", "run_flat", "suv_4x4"]), max_size=2)
POINTS = st.floats(-60, 60)


@st.composite
def instances(draw):
    nr, nt = draw(st.integers(0, 12)), draw(st.integers(0, 12))
    requests = [req(i, draw(POINTS), draw(st.integers(1, 4)), draw(st.floats(0, 200)), draw(CAPS)) for i in range(nr)]
    techs = [tech(100 + i, draw(POINTS), draw(CAPS)) for i in range(nt)]
    return requests, techs


@settings(max_examples=150, deadline=None)
@given(instances(), st.integers(1, 12))
def test_assignments_are_one_to_one_and_feasible(inst, k: int) -> None:
    requests, techs = inst
    by_req, by_tech = {r.id: r for r in requests}, {t.id: t for t in techs}
    for pairs in (batch_assign(requests, techs, k=k), greedy_assign(requests, techs)):
        assert len({p.request_id for p in pairs}) == len(pairs) == len({p.technician_id for p in pairs})
        for p in pairs:
            r, t = by_req[p.request_id], by_tech[p.technician_id]
            assert r.capabilities <= t.capabilities
            assert abs(p.eta_minutes - ETA.eta_minutes(t.lat, t.lng, r.lat, r.lng)) < 1e-9


@settings(max_examples=150, deadline=None)
@given(instances())
def test_seeing_every_candidate_batch_serves_at_least_as_many_as_greedy(inst) -> None:
    requests, techs = inst
    assert len(batch_assign(requests, techs, k=len(techs) + 1)) >= len(greedy_assign(requests, techs))


@settings(max_examples=150, deadline=None)
@given(st.lists(st.floats(-30, 30), max_size=8), st.lists(st.floats(-30, 30), max_size=8))
def test_with_vans_to_spare_batch_never_drives_more_in_total(rx: list[float], tx: list[float]) -> None:
    # Same priority, no wait, every trip within the SLA: the batch is the minimum-total-ETA matching.
    requests = [req(i, x) for i, x in enumerate(rx)]
    techs = [tech(100 + i, x) for i, x in enumerate(tx)]
    batch = batch_assign(requests, techs, k=len(techs) + 1)
    greedy = greedy_assign(requests, techs)
    assert len(batch) == len(greedy) == min(len(requests), len(techs))
    assert total_eta(batch) <= total_eta(greedy) + 1e-6
