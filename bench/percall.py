"""CPU per API call, endpoint by endpoint: where a load test's cores go.

    python -m bench.percall [--calls 400] [--technicians 2000]

Starts the API as `bench.load` does (one uvicorn worker, a fresh migrated database, rate limits
off), then calls each endpoint `--calls` times in turn from one client, one call at a time, and
divides the CPU the worker, PostgreSQL and Redis spent by the calls made. With nothing running
alongside, the figures hold no queueing or lock waits: they are what each call costs, and
multiplying by a load test's mix says how many cores that mix needs.
"""

from __future__ import annotations

import argparse
import secrets
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

import httpx
import sqlalchemy as sa

from bench.load import NAME_PREFIX, TICK, _api, _points, _procs, _servers_ticks, _sessions, _tree_ticks, _warm
from bench.machine import yardstick_s
from core.bootstrap import bootstrap
from core.config import Settings
from core.geo.geocode import OfflineGeocoder
from tests.support.databases import scratch_servers


def _now() -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%S+00:00", time.gmtime())


def measure(  # type: ignore[no-untyped-def]
    calls: int, technicians: int, log=print, spy: str | None = None
) -> list[tuple[str, int, float, float, float, float]]:
    """[(endpoint, calls, API ms CPU/call, PostgreSQL ms/call, Redis ms/call, wall ms/call)]."""
    prefix = f"percall:{secrets.token_hex(3)}:"
    rows = []
    with scratch_servers() as (url, redis_url):
        core = bootstrap(Settings(rate_limits_enabled=False), database_url=url, redis_url=redis_url, key_prefix=prefix,
                         geocoder=OfflineGeocoder())
        techs, disp_token = _sessions(core, technicians)
        points = _points(calls)
        with _api(url, redis_url, prefix, 1) as (base, api), httpx.Client(base_url=base, timeout=30) as http:
            _warm(base, techs, disp_token, 1)
            tokens: list[str] = []
            jobs: list[tuple[int, str]] = []  # (request id, technician token)
            by_tech = {t[0]: t[1] for t in techs}
            seq = iter(range(10**9))

            def submit() -> None:
                i = next(seq)
                lat, lng = points[i % len(points)]
                r = http.post("/api/v1/requests", json={
                    "customer_name": f"{NAME_PREFIX} {i}", "phone": f"07402{i:06d}",
                    "location": {"lat": lat, "lng": lng}, "vehicle": "Ford Focus", "issue": "flat"})
                r.raise_for_status()
                tokens.append(r.json()["tracking_token"])

            def track() -> None:
                http.get(f"/api/v1/requests/track/{tokens[next(seq) % len(tokens)]}").raise_for_status()

            # Phones call every few seconds, so a worker mostly knows their session already: each phone
            # here calls five times in turn, as a phone pinging every 10 s does within AUTH_CACHE_S.
            phones = techs[: max(1, min(len(techs), calls // 5))]

            def ping() -> None:
                _tid, tok, lat, lng = phones[next(seq) % len(phones)]
                http.post("/api/v1/technicians/me/location", headers={"Authorization": f"Bearer {tok}"},
                          json={"lat": lat, "lng": lng, "accuracy_m": 5, "recorded_at": _now()}).raise_for_status()

            def get_job() -> None:
                _tid, tok, _lat, _lng = phones[next(seq) % len(phones)]
                http.get("/api/v1/technicians/me/job", headers={"Authorization": f"Bearer {tok}"}).raise_for_status()

            def live() -> None:
                http.get(
                    "/api/v1/dispatch/live.geojson", headers={"Authorization": f"Bearer {disp_token}"}
                ).raise_for_status()

            def step(action: str) -> Callable[[], None]:
                def go() -> None:
                    job_id, tok = jobs[next(seq) % len(jobs)]
                    http.post(f"/api/v1/jobs/{job_id}/{action}", headers={"Authorization": f"Bearer {tok}"},
                              json={}).raise_for_status()
                return go

            def alive() -> None:
                http.get("/health/live").raise_for_status()

            plan: list[tuple[str, Callable[[], None], int]] = [
                ("GET /health/live (no database, no Redis)", alive, calls),
                ("POST /api/v1/requests", submit, calls),
                ("GET /api/v1/requests/track/{token}", track, calls),
                ("POST /api/v1/technicians/me/location", ping, calls),
                ("GET /api/v1/technicians/me/job", get_job, calls),
                ("GET /api/v1/dispatch/live.geojson", live, max(5, calls // 20)),
            ]
            for name, fn, n in plan:
                rows.append(_time(name, fn, n, api.pid, spy))
                log(_fmt(rows[-1]))
                if name == "POST /api/v1/requests":
                    with core.engine.connect() as c:
                        assigned = c.execute(sa.text(
                            "SELECT id, technician_id FROM service_request WHERE status = 'assigned'"
                            " AND customer_name LIKE :p ORDER BY id"), {"p": f"{NAME_PREFIX} %"}).all()
                    jobs[:] = [(rid, by_tech[tid]) for rid, tid in assigned]
            n_jobs = len(jobs)
            for action in ("accept", "en-route", "arrived", "complete"):
                seq = iter(range(10**9))
                rows.append(_time(f"POST /api/v1/jobs/{{id}}/{action}", step(action), n_jobs, api.pid, spy))
                log(_fmt(rows[-1]))
    return rows


def _time(name: str, fn: Callable[[], None], n: int, api_pid: int, spy: str | None = None
          ) -> tuple[str, int, float, float, float, float]:
    recorder = None
    if spy:  # py-spy (installed separately) on the worker while this endpoint runs, as folded stacks
        Path(spy).mkdir(parents=True, exist_ok=True)
        worker = next((pid for pid, (ppid, _c, _t) in _procs().items() if ppid == api_pid), api_pid)
        slug = "".join(ch if ch.isalnum() else "_" for ch in name).strip("_")
        recorder = subprocess.Popen(
            [
                str(Path(sys.executable).with_name("py-spy")),
                "record",
                "-p",
                str(worker),
                "-r",
                "500",
                "-f",
                "raw",
                "-o",
                f"{spy}/{slug}.txt",
            ],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        time.sleep(1.0)
    p0, t0 = _procs(), time.perf_counter()
    for _ in range(n):
        fn()
    wall = time.perf_counter() - t0
    if recorder is not None:
        recorder.send_signal(signal.SIGINT)
        recorder.wait(30)
    p1 = _procs()
    ms = 1000 / TICK / max(n, 1)
    return (name, n, (_tree_ticks(p1, api_pid) - _tree_ticks(p0, api_pid)) * ms,
            (_servers_ticks(p1, "postgres") - _servers_ticks(p0, "postgres")) * ms,
            (_servers_ticks(p1, "redis-server") - _servers_ticks(p0, "redis-server")) * ms, wall * 1000 / max(n, 1))


def _fmt(r: tuple[str, int, float, float, float, float]) -> str:
    return f"| {r[0]} | {r[1]:,} | {r[2]:.2f} | {r[3]:.2f} | {r[4]:.2f} | {r[5]:.2f} |"


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--calls", type=int, default=400, help="calls per endpoint (default 400)")
    ap.add_argument("--technicians", type=int, default=2000, help="technicians on shift (default 2000)")
    ap.add_argument(
        "--py-spy", metavar="DIR", help="record the worker with py-spy per endpoint into DIR (folded stacks)"
    )
    args = ap.parse_args()
    print(f"machine yardstick: {yardstick_s()} s (bench.machine; lower is faster)\n")
    print("| endpoint | calls | API CPU ms/call | PostgreSQL ms/call | Redis ms/call | wall ms/call |")
    print("|---|--:|--:|--:|--:|--:|")
    measure(args.calls, args.technicians, spy=args.py_spy)


if __name__ == "__main__":
    main()
