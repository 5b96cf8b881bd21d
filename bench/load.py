"""Load test of the API on loopback: customers, technicians and dispatchers in realistic proportions.

    python -m bench.load [--rate 100] [--seconds 60] [--technicians 2000] [--workers 2]

Starts the API (`uvicorn tyrehero_app.api.standalone:app`, the same code the app mounts) on a free
loopback port against a fresh database (DATABASE_URL / REDIS_URL when set, else embedded servers
in a temporary folder), with rate limits off. Open-loop traffic for `--seconds`:
customers submit `--rate` requests/s and poll their tracking view every 5 s; every technician
sends a position every 10 s; two dispatcher consoles poll live.geojson every 1.5 s and
hexes.geojson every 5 s. Prints throughput and p50/p95/p99 per endpoint, errors, and then counts
accepted == stored. Stops by itself.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import random
import secrets
import statistics
import subprocess
import sys
import time
from collections import defaultdict
from datetime import UTC, datetime
from pathlib import Path

import httpx
import sqlalchemy as sa

from bench.scratch import scratch_servers
from core.auth import _token_hash
from core.bootstrap import bootstrap
from core.config import Settings
from core.demo import seed_if_empty
from core.places import uk_places
from tests.servers import free_port

ROOT = Path(__file__).resolve().parent.parent


def _pct(xs: list[float], p: float) -> float:
    xs = sorted(xs)
    return xs[min(len(xs) - 1, int(p / 100 * len(xs)))] if xs else float("nan")


async def _run(base: str, args, tech_tokens: list[tuple[int, str, float, float]], disp_token: str) -> tuple:  # type: ignore[no-untyped-def]
    lat_ms: dict[str, list[float]] = defaultdict(list)
    errors: dict[str, int] = defaultdict(int)
    accepted: set[int] = set()
    tokens: list[str] = []
    rng = random.Random(5)
    towns = uk_places()
    weights = [max(p.population, 1) for p in towns]
    limits = httpx.Limits(max_connections=400, max_keepalive_connections=400)
    async with httpx.AsyncClient(base_url=base, timeout=10, limits=limits) as client:

        async def call(name: str, method: str, url: str, ok: tuple[int, ...] = (200,), **kw) -> httpx.Response | None:  # type: ignore[no-untyped-def]
            t0 = time.perf_counter()
            try:
                r = await client.request(method, url, **kw)
            except httpx.HTTPError:
                errors[name] += 1
                return None
            lat_ms[name].append((time.perf_counter() - t0) * 1000)
            if r.status_code not in ok:
                errors[name] += 1
            return r

        async def customer(i: int) -> None:
            town = rng.choices(towns, weights)[0]
            body = {
                "customer_name": f"Load {i}",
                "phone": f"07911 {100000 + i:06d}",
                "location": {"lat": town.lat + rng.uniform(-0.03, 0.03), "lng": town.lng + rng.uniform(-0.03, 0.03)},
                "vehicle": "Ford Focus",
                "issue": "puncture",
            }
            r = await call("POST /api/v1/requests", "POST", "/api/v1/requests", ok=(201,), json=body)
            if r is not None and r.status_code == 201:
                accepted.add(r.json()["id"])
                tokens.append(r.json()["tracking_token"])

        async def tracker() -> None:
            if tokens:
                tok = rng.choice(tokens)
                await call("GET /api/v1/requests/track/{token}", "GET", f"/api/v1/requests/track/{tok}")

        async def ping(tid: int, token: str, lat: float, lng: float) -> None:
            body = {
                "lat": lat + rng.uniform(-0.002, 0.002),
                "lng": lng + rng.uniform(-0.002, 0.002),
                "accuracy_m": 8,
                "recorded_at": datetime.now(UTC).isoformat(),
            }
            await call(
                "POST /api/v1/technicians/me/location",
                "POST",
                "/api/v1/technicians/me/location",
                json=body,
                headers={"Authorization": f"Bearer {token}"},
            )

        async def console(path: str) -> None:
            await call(
                f"GET /api/v1/dispatch/{path}",
                "GET",
                f"/api/v1/dispatch/{path}",
                headers={"Authorization": f"Bearer {disp_token}"},
            )

        tasks: set[asyncio.Task] = set()
        start = time.monotonic()
        n_cust = int(args.rate * args.seconds)
        schedule: list[tuple[float, object]] = []
        schedule += [(i / args.rate, (customer, (i,))) for i in range(n_cust)]
        track_rate = args.rate / 2
        schedule += [(i / track_rate, (tracker, ())) for i in range(int(track_rate * args.seconds))]
        for k, t in enumerate(tech_tokens):
            offset = (k / len(tech_tokens)) * 10
            schedule += [(offset + 10 * j, (ping, t)) for j in range(int(args.seconds // 10))]
        for d in range(2):
            schedule += [(d * 0.7 + 1.5 * j, (console, ("live.geojson",))) for j in range(int(args.seconds / 1.5))]
            schedule += [(d * 2.5 + 5 * j, (console, ("hexes.geojson",))) for j in range(int(args.seconds / 5))]
        schedule.sort(key=lambda x: x[0])
        for at, (fn, fargs) in schedule:
            delay = start + at - time.monotonic()
            if delay > 0:
                await asyncio.sleep(delay)
            task = asyncio.create_task(fn(*fargs))  # type: ignore[operator]
            tasks.add(task)
            task.add_done_callback(tasks.discard)
        await asyncio.gather(*tasks)
        wall = time.monotonic() - start
    return lat_ms, errors, accepted, wall


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--rate", type=float, default=100.0)
    ap.add_argument("--seconds", type=float, default=60.0)
    ap.add_argument("--technicians", type=int, default=2000)
    ap.add_argument("--workers", type=int, default=2)
    args = ap.parse_args()

    proc = None
    prefix = f"load:{secrets.token_hex(3)}:"
    with scratch_servers() as (url, redis_url):
        try:
            core = bootstrap(Settings(), database_url=url, redis_url=redis_url, key_prefix=prefix)
            seed_if_empty(core, size=args.technicians)
            # Sessions straight into the database: logging 2,000 technicians in through Argon2 is not what we measure.
            tech_tokens = []
            disp_token = secrets.token_urlsafe(32)
            with core.engine.begin() as c:
                c.execute(sa.text("UPDATE technician SET status = 'available', position_at = now()"))
                techs = c.execute(sa.text("SELECT id, lat, lng FROM technician ORDER BY id")).all()
                for tid, lat, lng in techs:
                    uid = c.execute(
                        sa.text(
                            "INSERT INTO user_account (username, display_name, role, password_hash, active)"
                            " VALUES (:u, :u, 'technician', 'x', true) RETURNING id"
                        ),
                        {"u": f"load-tech-{tid}"},
                    ).scalar_one()
                    c.execute(sa.text("UPDATE technician SET user_id = :u WHERE id = :t"), {"u": uid, "t": tid})
                    tok = secrets.token_urlsafe(32)
                    c.execute(
                        sa.text(
                            "INSERT INTO auth_session (token_hash, user_id, kind, expires_at)"
                            " VALUES (:h, :u, 'bearer', now() + interval '1 day')"
                        ),
                        {"h": _token_hash(tok), "u": uid},
                    )
                    tech_tokens.append((tid, tok, lat, lng))
                duid = c.execute(sa.text("SELECT id FROM user_account WHERE username = 'dispatch'")).scalar_one()
                c.execute(
                    sa.text(
                        "INSERT INTO auth_session (token_hash, user_id, kind, expires_at)"
                        " VALUES (:h, :u, 'bearer', now() + interval '1 day')"
                    ),
                    {"h": _token_hash(disp_token), "u": duid},
                )
            core.index.ensure_built(force=True)
            port = free_port()
            env = dict(
                os.environ,
                DATABASE_URL=url,
                REDIS_URL=redis_url,
                REDIS_KEY_PREFIX=prefix,
                RATE_LIMITS_ENABLED="false",
                DEMO_MODE="false",
                LOG_JSON="true",
                SLOW_QUERY_MS="1000",
            )
            proc = subprocess.Popen(
                [
                    sys.executable,
                    "-m",
                    "uvicorn",
                    "tyrehero_app.api.standalone:app",
                    "--host",
                    "127.0.0.1",
                    "--port",
                    str(port),
                    "--workers",
                    str(args.workers),
                    "--log-level",
                    "warning",
                    "--no-access-log",
                ],
                cwd=ROOT,
                env=env,
                stderr=subprocess.DEVNULL,
            )
            base = f"http://127.0.0.1:{port}"
            for _ in range(100):
                try:
                    if httpx.get(f"{base}/health", timeout=1).status_code == 200:
                        break
                except httpx.HTTPError:
                    time.sleep(0.2)
            httpx.post(
                f"{base}/api/v1/requests",
                timeout=30,
                json={
                    "customer_name": "Warm",
                    "phone": "07911 999999",
                    "location": {"lat": 51.5, "lng": -0.12},
                    "vehicle": "Car",
                    "issue": "flat",
                },
            )
            print(
                f"running {args.seconds:.0f} s: {args.rate:.0f} requests/s, {len(tech_tokens)} technicians pinging every 10 s,"
                f" 2 consoles, {args.workers} API workers",
                flush=True,
            )
            lat_ms, errors, accepted, wall = asyncio.run(_run(base, args, tech_tokens, disp_token))
            with core.engine.connect() as c:
                stored = {r[0] for r in c.execute(sa.text("SELECT id FROM service_request"))}
            print("\n| endpoint | calls | per s | errors | p50 ms | p95 ms | p99 ms |\n|---|---|---|---|---|---|---|")
            for k in sorted(lat_ms):
                xs = lat_ms[k]
                print(
                    f"| {k} | {len(xs)} | {len(xs) / wall:.1f} | {errors.get(k, 0)} | {statistics.median(xs):.1f} |"
                    f" {_pct(xs, 95):.1f} | {_pct(xs, 99):.1f} |"
                )
            print(
                f"\naccepted={len(accepted)} stored_of_accepted={len(accepted & stored)} lost={len(accepted - stored)}"
                f" wall={wall:.1f}s errors={sum(errors.values())}"
            )
            core.close()
        finally:
            if proc is not None:
                proc.terminate()
                proc.wait(10)


if __name__ == "__main__":
    main()
