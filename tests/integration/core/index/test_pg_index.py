"""The PostgreSQL fallback search returns what a brute-force scan returns."""

from __future__ import annotations

from datetime import UTC, datetime

import h3
import pytest
import sqlalchemy as sa
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from core.geo.sphere import haversine_km
from core.index import IndexedTech, TechFilter
from core.index.pg_index import PostgresTechnicianIndex
from tests.integration.core.index.test_redis_index import FlatEta, brute_force, fleet_s, lat_s, lng_s

NOW = 1_800_000_000.0


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(fleet=fleet_s, lat=lat_s, lng=lng_s, n=st.integers(1, 5))
def test_fallback_matches_brute_force(clean_db: sa.Engine, fleet, lat: float, lng: float, n: int) -> None:
    with clean_db.begin() as c:
        c.exec_driver_sql("TRUNCATE technician RESTART IDENTITY CASCADE")
        techs = {}
        for i, (tlat, tlng, status, caps, age, clustered) in enumerate(fleet, start=1):
            if clustered:
                tlat, tlng = 52.48 + (tlat - 54) / 100, -1.89 + tlng / 100
            techs[i] = IndexedTech(i, tlat, tlng, status, frozenset(caps), NOW - age)
            cell = h3.latlng_to_cell(tlat, tlng, 7)
            c.execute(sa.text(
                "INSERT INTO technician (id, name, van_reg, van_label, capabilities, home_base, status, lat, lng,"
                " h3_cell, h3_parent, position_at, active, version) VALUES (:i, 'T', 'X', '', :caps, '', :st, :lat,"
                " :lng, :c, :p, :at, true, 0)"),
                {"i": i, "caps": sorted(caps), "st": status, "lat": tlat, "lng": tlng, "c": cell,
                 "p": h3.cell_to_parent(cell, 4), "at": datetime.fromtimestamp(NOW - age, UTC)})
    idx = PostgresTechnicianIndex(clean_db)
    f = TechFilter()
    got = [c.technician_id for c in idx.nearest(lat, lng, n, f, now=NOW)]
    want = brute_force(techs, lat, lng, n, f, NOW)
    dist = lambda ids: [round(haversine_km(lat, lng, techs[i].lat, techs[i].lng), 6) for i in ids]  # noqa: E731
    assert dist(got) == dist(want)



def test_fallback_candidates_carry_the_eta_of_the_model_it_was_given(clean_db: sa.Engine) -> None:
    cell = h3.latlng_to_cell(52.01, -1.5, 7)
    with clean_db.begin() as c:
        c.exec_driver_sql("TRUNCATE technician RESTART IDENTITY CASCADE")
        c.execute(sa.text(
            "INSERT INTO technician (id, name, van_reg, van_label, capabilities, home_base, status, lat, lng,"
            " h3_cell, h3_parent, position_at, active, version) VALUES (1, 'T', 'X', '', '{}', '', 'available',"
            " 52.01, -1.5, :c, :p, :at, true, 0)"),
            {"c": cell, "p": h3.cell_to_parent(cell, 4), "at": datetime.fromtimestamp(NOW, UTC)})
    idx = PostgresTechnicianIndex(clean_db, eta=FlatEta())
    (found,) = idx.nearest(52.0, -1.5, 1, TechFilter(), now=NOW)
    assert found.eta_minutes == pytest.approx(10.0 * found.distance_km), "ranked by the ETA model it was given"
