"""Timing the methods, checking them against brute force, and timing position updates."""

from __future__ import annotations

import math
import time
from dataclasses import dataclass, field

import numpy as np
import redis

from bench.nearest.methods import BruteForceMethod
from bench.nearest.workload import (
    _CAPSETS,
    FILTERS,
    INGEST_BATCH,
    INGEST_PIPELINED,
    INGEST_SINGLE,
    KM_PER_DEG,
    N_NEAREST,
    NOW,
    STATUSES,
    Fleet,
    Queries,
    log,
    progress,
)
from core.index.base import IndexedTech
from core.index.redis_index import RedisTechnicianIndex

TOL_KM = 1e-6


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
