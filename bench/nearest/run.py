"""The benchmark's driver: a Redis (ours or --redis-url), each fleet size in turn, the report on stdout."""

from __future__ import annotations

import argparse
import os
import time
from pathlib import Path

import redis

import bench.nearest
from bench.nearest.measure import ingest, redis_mem_mb, time_method, verify
from bench.nearest.methods import BruteForceMethod, GeoSearchMethod, H3Method
from bench.nearest.report import report, write_json
from bench.nearest.workload import VERIFY_SAMPLE, Fleet, Queries, log, make_fleet, make_queries
from tests.support.redis_server import RedisProcess


def clear_prefix(r: redis.Redis, prefix: str) -> None:
    batch = []
    for k in r.scan_iter(match=f"{prefix}*", count=10_000):
        batch.append(k)
        if len(batch) >= 10_000:
            r.unlink(*batch)
            batch = []
    if batch:
        r.unlink(*batch)


def start_redis() -> RedisProcess:
    """A throw-away redis-server on a free loopback port, its output kept in a log file."""
    own = RedisProcess(extra={"protected-mode": "yes", "databases": "1"}, log_file=True)
    try:
        own.start()
    except RuntimeError:
        raise SystemExit(f"redis-server did not start; see {own.log_path}") from None
    assert own.proc is not None
    log(f"started redis-server pid {own.proc.pid} on 127.0.0.1:{own.port}")
    return own


def stop_redis(own: RedisProcess) -> None:
    own.stop()
    own.remove()
    assert own.proc is not None
    log(f"stopped redis-server pid {own.proc.pid}")


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
    ap = argparse.ArgumentParser(prog="python -m bench.nearest", description=bench.nearest.__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
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
        write_json(results, Path(args.json))
    return 0
