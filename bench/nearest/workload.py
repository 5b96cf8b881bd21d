"""The benchmark's workload: a seeded fleet spread like the UK population and the query points.

Everything is seeded and the benchmark clock (`NOW`) is a constant, so runs are reproducible.
"""

from __future__ import annotations

import math
import sys
import time
from dataclasses import dataclass

import numpy as np

from core.geo.places import EAST, NORTH, SOUTH, WEST, in_service_area, uk_places
from core.geo.sphere import EARTH_RADIUS_KM
from core.index.base import IndexedTech, TechFilter

try:
    from tqdm import tqdm
except ImportError:  # pragma: no cover - progress lines instead
    tqdm = None

KM_PER_DEG = EARTH_RADIUS_KM * math.pi / 180
NOW = 1_800_000_000.0  # the benchmark clock: every lookup is made "at" this instant
STATUSES = ("available", "assigned", "en_route", "break")
STATUS_P = (0.70, 0.10, 0.10, 0.10)
CAPS = ("run_flat", "suv_4x4", "van")
CAP_P = 0.25
QUERY_CAP_SHARE = 0.25
N_NEAREST = 5
VERIFY_SAMPLE = 200
INGEST_SINGLE = 5000
INGEST_PIPELINED = 100_000
INGEST_BATCH = 500

_CAPSETS = [frozenset(c for b, c in enumerate(CAPS) if mask >> b & 1) for mask in range(1 << len(CAPS))]


def log(msg: str) -> None:
    print(f"[{time.strftime('%H:%M:%S')}] {msg}", file=sys.stderr, flush=True)


def progress(it, total: int, desc: str):
    """tqdm on a terminal when installed, else a line every ~10 %."""
    if tqdm is not None and sys.stderr.isatty():
        return tqdm(it, total=total, desc=desc, file=sys.stderr, mininterval=1.0, leave=False)
    return _progress_lines(it, total, desc)  # a log file gets plain lines, not carriage returns


def _progress_lines(it, total: int, desc: str):
    step = max(1, total // 10)
    for i, x in enumerate(it, 1):
        yield x
        if i % step == 0 or i == total:
            log(f"{desc}: {i}/{total}")



@dataclass
class Fleet:
    lat: np.ndarray
    lng: np.ndarray
    status: np.ndarray  # index into STATUSES
    caps: np.ndarray  # bit mask over CAPS
    ts: np.ndarray

    def __len__(self) -> int:
        return len(self.lat)

    def head(self, n: int) -> Fleet:
        return Fleet(self.lat[:n], self.lng[:n], self.status[:n], self.caps[:n], self.ts[:n])

    def tech(self, i: int) -> IndexedTech:
        """Row i as the index sees it; ids start at 1."""
        return IndexedTech(
            i + 1,
            float(self.lat[i]),
            float(self.lng[i]),
            STATUSES[self.status[i]],
            _CAPSETS[self.caps[i]],
            float(self.ts[i]),
        )


@dataclass
class Queries:
    lat: np.ndarray
    lng: np.ndarray
    cap: np.ndarray  # -1: no capability asked, else index into CAPS
    town: np.ndarray  # True near a town, False countryside

    def __len__(self) -> int:
        return len(self.lat)


def _place_arrays():
    places = uk_places()
    lat = np.array([p.lat for p in places])
    lng = np.array([p.lng for p in places])
    pop = np.maximum(np.array([p.population for p in places], dtype=float), 1.0)  # a few places say 0
    # Villages spread over ~2 km, big cities ~8 km (London's sprawl).
    sigma = np.clip(2.0 + 2.0 * np.log10(pop / 5000.0), 2.0, 8.0)
    return lat, lng, pop / pop.sum(), sigma


def _near_towns(rng: np.random.Generator, n: int) -> tuple[np.ndarray, np.ndarray]:
    plat, plng, w, sigma = _place_arrays()
    out_lat: list[np.ndarray] = []
    out_lng: list[np.ndarray] = []
    got = 0
    while got < n:
        m = int((n - got) * 1.3) + 100
        idx = rng.choice(len(plat), size=m, p=w)
        s = sigma[idx]
        lat = plat[idx] + rng.normal(0.0, s) / KM_PER_DEG
        lng = plng[idx] + rng.normal(0.0, s) / (KM_PER_DEG * np.cos(np.radians(lat)))
        keep = np.fromiter(
            (in_service_area(a, b) for a, b in zip(lat.tolist(), lng.tolist(), strict=True)), dtype=bool, count=m
        )
        out_lat.append(lat[keep])
        out_lng.append(lng[keep])
        got += int(keep.sum())
    return np.concatenate(out_lat)[:n], np.concatenate(out_lng)[:n]


def _uniform_area(rng: np.random.Generator, n: int) -> tuple[np.ndarray, np.ndarray]:
    """Uniform by area over the service area (rejection from the bounding box, weighted by cos(lat))."""
    out_lat, out_lng, got = [], [], 0
    while got < n:
        m = 4 * (n - got) + 100
        lat = rng.uniform(SOUTH, NORTH, m)
        lng = rng.uniform(WEST, EAST, m)
        ok = rng.random(m) <= np.cos(np.radians(lat)) / math.cos(math.radians(SOUTH))
        ok &= np.fromiter(
            (in_service_area(a, b) for a, b in zip(lat.tolist(), lng.tolist(), strict=True)), dtype=bool, count=m
        )
        out_lat.append(lat[ok])
        out_lng.append(lng[ok])
        got += int(ok.sum())
    return np.concatenate(out_lat)[:n], np.concatenate(out_lng)[:n]


def make_fleet(n: int, seed: int) -> Fleet:
    rng = np.random.default_rng(seed)
    lat, lng = _near_towns(rng, n)
    status = rng.choice(len(STATUSES), size=n, p=STATUS_P).astype(np.int8)
    caps = ((rng.random((n, len(CAPS))) < CAP_P) * (1 << np.arange(len(CAPS)))).sum(axis=1).astype(np.int8)
    ts = NOW - rng.uniform(0.0, 180.0, n)
    return Fleet(lat, lng, status, caps, ts)


def make_queries(n: int, seed: int) -> Queries:
    rng = np.random.default_rng(seed + 1)
    n_town = n // 2
    tlat, tlng = _near_towns(rng, n_town)
    clat, clng = _uniform_area(rng, n - n_town)
    lat = np.concatenate([tlat, clat])
    lng = np.concatenate([tlng, clng])
    town = np.concatenate([np.ones(n_town, bool), np.zeros(n - n_town, bool)])
    cap = np.where(rng.random(n) < QUERY_CAP_SHARE, rng.integers(0, len(CAPS), n), -1)
    order = rng.permutation(n)  # so any prefix is a fair mix (time-budgeted methods use a prefix)
    return Queries(lat[order], lng[order], cap[order], town[order])


FILTERS = {-1: TechFilter(), **{i: TechFilter(capabilities=frozenset({c})) for i, c in enumerate(CAPS)}}
