"""Distances and the ETA model."""

from __future__ import annotations

import h3
from hypothesis import given
from hypothesis import strategies as st

from core.geo.eta import StraightLineEta
from core.geo.sphere import haversine_km, min_distance_to_cell_km


def test_london_to_manchester() -> None:
    assert 255 < haversine_km(51.5074, -0.1278, 53.4808, -2.2426) < 265


@given(st.floats(0, 400), st.floats(0, 400), st.sampled_from(["urban", "rural"]))
def test_eta_grows_with_distance(a: float, b: float, area: str) -> None:
    eta = StraightLineEta()
    lo, hi = sorted((a, b))
    assert eta.minutes_for_km(lo, area) <= eta.minutes_for_km(hi, area)
    assert eta.minutes_for_km(0, area) == eta.mobilisation_min


@given(st.floats(50, 58), st.floats(-5, 1), st.floats(50, 58), st.floats(-5, 1))
def test_cell_lower_bound_never_exceeds_true_distance(lat: float, lng: float, plat: float, plng: float) -> None:
    cell = h3.latlng_to_cell(plat, plng, 7)
    assert min_distance_to_cell_km(lat, lng, cell) <= haversine_km(lat, lng, plat, plng) + 1e-9
