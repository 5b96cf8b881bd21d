"""The three ways of finding the nearest technicians that the benchmark compares.

Each `nearest` returns [(km, tech_id), ...] sorted by distance, at most n long.
"""

from __future__ import annotations

import math
import time

import numpy as np
import redis

from bench.nearest.workload import CAPS, NOW, STATUSES, Fleet, progress
from core.geo.sphere import EARTH_RADIUS_KM, haversine_km
from core.index.base import TechFilter
from core.index.redis_index import RedisTechnicianIndex
from core.index.search import SearchStats

LOAD_CHUNK = 5000
H3_PREFIX = "bench:h3:"
GEO_PREFIX = "bench:geo:"


class H3Method:
    name = "H3 index (ours)"

    def __init__(self, r: redis.Redis) -> None:
        self.idx = RedisTechnicianIndex(r, prefix=H3_PREFIX)
        self.round_trips = 0
        self.cells_read = 0
        self.max_cells = 0

    def load(self, fleet: Fleet) -> float:
        """Pipelined upsert_many in chunks; returns seconds spent inside upsert_many."""
        spent = 0.0
        n = len(fleet)
        for start in progress(range(0, n, LOAD_CHUNK), math.ceil(n / LOAD_CHUNK), f"load H3 {n:,}"):
            chunk = [fleet.tech(i) for i in range(start, min(n, start + LOAD_CHUNK))]
            t0 = time.perf_counter()
            ok = self.idx.upsert_many(chunk)
            spent += time.perf_counter() - t0
            if ok != len(chunk):
                raise RuntimeError(f"upsert_many accepted {ok} of {len(chunk)}")
        return spent

    def nearest(self, lat: float, lng: float, n: int, f: TechFilter) -> list[tuple[float, int]]:
        st = SearchStats()
        got = self.idx.nearest(lat, lng, n, f, now=NOW, stats=st)
        self.round_trips += st.round_trips
        self.cells_read += st.cells_read
        self.max_cells = max(self.max_cells, st.cells_read)
        return sorted((c.distance_km, c.technician_id) for c in got)


class GeoSearchMethod:
    """One GEO set of every technician plus a hash per technician (lat, lng, status, caps, ts).

    GEOSEARCH ... ASC COUNT k WITHDIST, then one pipelined HMGET of the members not yet checked, the
    same filter in Python, exact haversine on the stored coordinates; k doubles until n eligible are
    among the answer or the radius holds fewer than k members. `expanding` starts with a small radius
    and doubles it up to max_km (Redis scans every member inside the radius before it sorts, so a
    fixed 250 km radius costs O(fleet within 250 km) per call); otherwise the radius is max_km.
    """

    def __init__(self, r: redis.Redis, expanding: bool, r0_km: float = 2.0) -> None:
        self.r = r
        self.expanding = expanding
        self.r0_km = r0_km
        self.key = f"{GEO_PREFIX}pos"
        self.name = "GEOSEARCH, radius doubling from 2 km" if expanding else "GEOSEARCH BYRADIUS 250 km"
        self._capsets: dict[bytes, frozenset[str]] = {}
        self.round_trips = 0

    def _h(self, tid: int) -> str:
        return f"{GEO_PREFIX}t:{tid}"

    def load(self, fleet: Fleet) -> float:
        spent = 0.0
        n = len(fleet)
        for start in progress(range(0, n, LOAD_CHUNK), math.ceil(n / LOAD_CHUNK), f"load GEO {n:,}"):
            rows = [fleet.tech(i) for i in range(start, min(n, start + LOAD_CHUNK))]
            t0 = time.perf_counter()
            pipe = self.r.pipeline(transaction=False)
            for j in range(0, len(rows), 1000):
                args: list = []
                for t in rows[j : j + 1000]:
                    args += [t.lng, t.lat, t.id]
                pipe.geoadd(self.key, args)
            for t in rows:
                pipe.hset(
                    self._h(t.id),
                    mapping={
                        "lat": repr(t.lat),
                        "lng": repr(t.lng),
                        "status": t.status,
                        "caps": ",".join(sorted(t.capabilities)),
                        "ts": repr(t.ts),
                    },
                )
            pipe.execute()
            spent += time.perf_counter() - t0
        return spent

    def _caps(self, raw: bytes | None) -> frozenset[str]:
        raw = raw or b""
        s = self._capsets.get(raw)
        if s is None:
            s = self._capsets[raw] = frozenset(c for c in raw.decode().split(",") if c)
        return s

    def nearest(self, lat: float, lng: float, n: int, f: TechFilter) -> list[tuple[float, int]]:
        # Start k from the expected share of eligible technicians (~45 %, a quarter of those per capability).
        k = 4 * n * 4 ** len(f.capabilities)
        radius = min(self.r0_km, f.max_km) if self.expanding else f.max_km
        checked: dict[int, float | None] = {}  # id -> exact km when eligible, None when not
        statuses = {s.encode() for s in f.statuses}
        while True:
            rows = self.r.execute_command(
                "GEOSEARCH",
                self.key,
                "FROMLONLAT",
                lng,
                lat,
                "BYRADIUS",
                radius,
                "km",
                "ASC",
                "COUNT",
                k,
                "WITHDIST",
            )
            self.round_trips += 1
            if len(rows) < n and radius < f.max_km:
                radius = min(radius * 2, f.max_km)  # cannot hold n eligible yet: widen without reading hashes
                continue
            ids = [int(m) for m, _ in rows]
            new = [i for i in ids if i not in checked]
            if new:
                pipe = self.r.pipeline(transaction=False)
                for i in new:
                    pipe.hmget(self._h(i), "lat", "lng", "status", "caps", "ts")
                self.round_trips += 1
                for i, (a, b, st, cp, ts) in zip(new, pipe.execute(), strict=True):
                    ok = (
                        st in statuses
                        and f.capabilities <= self._caps(cp)
                        and NOW - float(ts) <= f.max_age_s
                        and i not in f.exclude
                    )
                    km = haversine_km(lat, lng, float(a), float(b)) if ok else None
                    checked[i] = km if km is not None and km <= f.max_km else None
            found = sorted((checked[i], i) for i in ids if checked[i] is not None)
            if len(found) >= n:
                return found[:n]
            if len(rows) < k:  # everything inside the radius was read
                if radius >= f.max_km:
                    return found
                radius = min(radius * 2, f.max_km)
            else:
                k *= 2


class BruteForceMethod:
    """numpy haversine over the whole fleet after the same filter, argpartition for the n nearest."""

    name = "numpy brute force"

    def __init__(self, fleet: Fleet) -> None:
        self.lat = fleet.lat
        self.lng = fleet.lng
        self.latr = np.radians(fleet.lat)
        self.coslat = np.cos(self.latr)
        self.status = fleet.status
        self.caps = fleet.caps
        self.ts = fleet.ts
        self.ids = np.arange(1, len(fleet) + 1)

    def load(self, fleet: Fleet) -> float:
        return 0.0

    def nearest(self, lat: float, lng: float, n: int, f: TechFilter) -> list[tuple[float, int]]:
        codes = [STATUSES.index(s) for s in f.statuses if s in STATUSES]
        mask = np.isin(self.status, codes) if len(codes) != 1 else self.status == codes[0]
        mask &= (NOW - self.ts) <= f.max_age_s
        need = sum(1 << CAPS.index(c) for c in f.capabilities)
        if need:
            mask &= (self.caps & need) == need
        idx = np.flatnonzero(mask)
        if f.exclude:
            idx = idx[~np.isin(self.ids[idx], list(f.exclude))]
        p1 = math.radians(lat)
        p2 = self.latr[idx]
        dl = np.radians(self.lng[idx] - lng)
        a = np.sin((p2 - p1) / 2) ** 2 + math.cos(p1) * self.coslat[idx] * np.sin(dl / 2) ** 2
        km = 2 * EARTH_RADIUS_KM * np.arcsin(np.minimum(1.0, np.sqrt(a)))
        inside = km <= f.max_km
        idx, km = idx[inside], km[inside]
        if len(km) > n:
            part = np.argpartition(km, n)[: n + 1]  # n+1 so an exact tie at the cut is visible to the sort
            idx, km = idx[part], km[part]
        return sorted(zip(km.tolist(), (idx + 1).tolist(), strict=True))[:n]
