"""GeoJSON layers of the dispatcher's map: live markers, and H3 supply/demand with coverage risk."""

from __future__ import annotations

import hashlib
import json
import math
import string
import threading
import time
from collections.abc import Callable
from functools import cache, lru_cache
from typing import Any

import h3
import numpy as np
import sqlalchemy as sa
from scipy.spatial import cKDTree

from core.context import Core
from core.geo.places import area_type, uk_places
from core.geo.sphere import EARTH_RADIUS_KM
from core.principal import Principal, Role
from core.states import OPEN, TechStatus, sql_list

DISPLAY_RES = 5  # ~8.5 km cells: readable at country zoom
MAP_READERS = (Role.DISPATCHER, Role.ADMIN)

# Built as text by PostgreSQL in one statement (format + string_agg is several times faster than
# json_build_object, and no Python objects are made for thousands of markers).
_LIVE_SQL = sa.text(string.Template(
    """
    SELECT coalesce((
      SELECT string_agg(format(
        '{"type":"Feature","geometry":{"type":"Point","coordinates":[%s,%s]},'
        '"properties":{"id":"t%s","kind":"technician","status":"%s","name":%s,"van":%s,"stale":%s}}',
        round(lng::numeric, 5), round(lat::numeric, 5), id, status, to_json(name), to_json(van_label),
        coalesce(position_at < now() - interval '5 minutes', true)::text), ',')
      FROM technician WHERE active AND status <> '$offline' AND lat IS NOT NULL), '')
    || coalesce(',' || (
      SELECT string_agg(format(
        '{"type":"Feature","geometry":{"type":"Point","coordinates":[%s,%s]},'
        '"properties":{"id":"r%s","kind":"request","reference":"%s","status":"%s","priority":%s,'
        '"label":%s,"waited_min":%s}}',
        round(lng::numeric, 5), round(lat::numeric, 5), id, reference, status, priority, to_json(location_label),
        floor(extract(epoch FROM now() - created_at) / 60)::int), ',')
      FROM service_request WHERE status IN ($open)), '')
    """
).substitute(offline=TechStatus.OFFLINE.value, open=sql_list(OPEN)))


def live_geojson(core: Core) -> tuple[str, str]:
    """Technicians on shift and open requests; returns (body, etag)."""
    with core.read_engine.connect() as c:
        features = c.execute(_LIVE_SQL).scalar_one().lstrip(",")
    body = '{"type":"FeatureCollection","features":[' + features + "]}"
    return body, hashlib.sha1(body.encode()).hexdigest()[:20]


@cache
def demand_cells() -> frozenset[str]:
    """Display cells around towns of 10,000+ people: where coverage matters."""
    return frozenset(h3.latlng_to_cell(p.lat, p.lng, DISPLAY_RES) for p in uk_places() if p.population >= 10_000)


@lru_cache(maxsize=65_536)
def _cell_static(cell: str) -> tuple[tuple[float, float], list[list[float]], str]:
    """Centre, closed outline ([lng, lat]) and area type of a display cell; they never change."""
    lat, lng = h3.cell_to_latlng(cell)
    ring = [[round(x, 4), round(y, 4)] for y, x in h3.cell_to_boundary(cell)]
    ring.append(ring[0])
    return (lat, lng), ring, area_type(lat, lng)


def _unit(lat: np.ndarray, lng: np.ndarray) -> np.ndarray:
    la, lo = np.radians(lat), np.radians(lng)
    return np.column_stack((np.cos(la) * np.cos(lo), np.cos(la) * np.sin(lo), np.sin(la)))


def hexes(core: Core) -> dict[str, Any]:
    """Per display cell: available technicians, open requests, best ETA and whether the SLA is at risk."""
    with core.read_engine.connect() as c:
        techs = c.execute(sa.text(
            f"SELECT h3_cell, lat, lng FROM technician WHERE active AND status = '{TechStatus.AVAILABLE.value}'"
            " AND lat IS NOT NULL AND position_at >= now() - make_interval(secs => :age)"),
            {"age": core.settings.position_max_age_s}).all()
        reqs = c.execute(sa.text(
            f"SELECT h3_cell, count(*) FROM service_request WHERE status IN ({sql_list(OPEN)})"
            " GROUP BY h3_cell")).all()
    supply: dict[str, int] = {}
    for cell, _lat, _lng in techs:
        p = h3.cell_to_parent(cell, DISPLAY_RES)
        supply[p] = supply.get(p, 0) + 1
    demand: dict[str, int] = {}
    for cell, n in reqs:
        p = h3.cell_to_parent(cell, DISPLAY_RES)
        demand[p] = demand.get(p, 0) + n
    cells = sorted(set(supply) | set(demand) | demand_cells())
    statics = [_cell_static(c) for c in cells]
    centers = np.array([st[0] for st in statics])
    best = np.full(len(cells), math.inf)
    if techs:
        pts = np.array([(t[1], t[2]) for t in techs])
        chord, _ = cKDTree(_unit(pts[:, 0], pts[:, 1])).query(_unit(centers[:, 0], centers[:, 1]))
        best = 2 * EARTH_RADIUS_KM * np.arcsin(np.clip(chord / 2, 0, 1))
    eta = getattr(core.eta, "minutes_for_km", None)
    features = []
    for i, cell in enumerate(cells):
        km = float(best[i])
        minutes = None if not math.isfinite(km) else round(eta(km, statics[i][2]) if eta else km)
        risk = minutes is None or minutes > core.settings.sla_minutes
        n_sup, n_dem = supply.get(cell, 0), demand.get(cell, 0)
        if not (n_sup or n_dem or risk):
            continue
        features.append({
            "type": "Feature", "geometry": {"type": "Polygon", "coordinates": [statics[i][1]]},
            "properties": {"id": cell, "available": n_sup, "open": n_dem, "best_eta_min": minutes, "risk": risk},
        })
    return {"type": "FeatureCollection", "features": features}


class _Cached:
    """One computation serves every console of this process for a moment (consoles poll every 1.5-5 s)."""

    def __init__(self, build: Callable[[Core], tuple[str, str]], ttl_s: float) -> None:
        self.build = build
        self.ttl_s = ttl_s
        self._at = 0.0
        self._value: tuple[str, str] | None = None
        self._owner = 0
        self._lock = threading.Lock()

    def get(self, core: Core) -> tuple[str, str]:
        with self._lock:
            if self._value is None or self._owner != id(core) or time.monotonic() - self._at > self.ttl_s:
                self._owner = id(core)
                self._value = self.build(core)
                self._at = time.monotonic()
            return self._value


def _hexes_body(core: Core) -> tuple[str, str]:
    body = json.dumps(hexes(core), separators=(",", ":"))
    return body, hashlib.sha1(body.encode()).hexdigest()[:20]


_hexes_cached = _Cached(_hexes_body, ttl_s=3.0)  # coverage changes slowly and costs a scan
_live_cached = _Cached(live_geojson, ttl_s=1.0)  # markers stay within a second of the truth


def live_layer(core: Core, who: Principal) -> tuple[str, str]:
    """The live markers (technicians' names and positions, where drivers wait) for dispatchers and admins."""
    who.require(*MAP_READERS)
    return _live_cached.get(core)


def hexes_layer(core: Core, who: Principal) -> tuple[str, str]:
    """Supply and demand per display cell, for dispatchers and admins."""
    who.require(*MAP_READERS)
    return _hexes_cached.get(core)
