"""Dispatcher map layers under load: 5,000 technicians and 500 open requests.

    python -m bench.maplayers [--technicians 5000] [--requests 500] [--rounds 200]

Uses DATABASE_URL / REDIS_URL when set, else embedded servers under a temporary folder.
Creates its own database and drops it afterwards. Prints p50/p95/p99 per layer, server-side
(the function the route calls) and over HTTP (the FastAPI app on a loopback port).
"""

from __future__ import annotations

import argparse
import random
import secrets
import socket
import statistics
import threading
import time

import h3
import httpx
import sqlalchemy as sa
from tqdm import tqdm

from core.bootstrap import bootstrap
from core.config import Settings
from core.demo import seed_if_empty
from core.dispatch import maplayers
from core.geo.places import uk_places
from tests.support.databases import scratch_servers


def _pct(xs: list[float], p: float) -> float:
    xs = sorted(xs)
    return xs[min(len(xs) - 1, int(p / 100 * len(xs)))]


def _row(name: str, xs: list[float]) -> str:
    return f"| {name} | {statistics.median(xs):.1f} | {_pct(xs, 95):.1f} | {_pct(xs, 99):.1f} | {len(xs)} |"


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--technicians", type=int, default=5000)
    ap.add_argument("--requests", type=int, default=500)
    ap.add_argument("--rounds", type=int, default=200)
    args = ap.parse_args()

    with scratch_servers() as (url, redis_url):
        core = bootstrap(Settings(), database_url=url, redis_url=redis_url, key_prefix=f"bench:{secrets.token_hex(3)}:")
        seed_if_empty(core, size=args.technicians, quiet=False)
        rng = random.Random(3)
        towns = uk_places()
        weights = [p.population for p in towns]
        with core.engine.begin() as c:
            rows = []
            for i in tqdm(range(args.requests), desc="open requests"):
                t = rng.choices(towns, weights)[0]
                lat, lng = t.lat + rng.uniform(-0.05, 0.05), t.lng + rng.uniform(-0.05, 0.05)
                rows.append(
                    {
                        "ref": f"TB-{i:06d}",
                        "tok": secrets.token_hex(32),
                        "pid": secrets.token_hex(16),
                        "lat": lat,
                        "lng": lng,
                        "cell": h3.latlng_to_cell(lat, lng, 7),
                        "st": rng.choice(["pending", "assigned", "en_route", "on_site"]),
                        "pr": rng.randint(1, 4),
                    }
                )
            c.execute(
                sa.text(
                    "INSERT INTO service_request (public_id, reference, tracking_token_hash, customer_name, phone_enc,"
                    " phone_hash, lat, lng, h3_cell, location_label, location_approximate, vehicle, vehicle_type,"
                    " issue, on_motorway, vulnerable, notes, status, priority, quote_pence, version, created_at)"
                    " VALUES (cast(:pid as uuid), :ref, :tok, 'Bench', 'x', 'x', :lat, :lng, :cell, 'near town', false,"
                    " 'Car', 'car', 'puncture', false, false, '', :st, :pr, 10000, 0,"
                    " now() - random() * interval '80 minutes')"
                ),
                rows,
            )
        timings: dict[str, list[float]] = {"live (server)": [], "hexes (server, uncached)": []}
        for _ in tqdm(range(args.rounds), desc="server-side"):
            t0 = time.perf_counter()
            body, _ = maplayers.live_geojson(core)
            timings["live (server)"].append((time.perf_counter() - t0) * 1000)
            t0 = time.perf_counter()
            maplayers.hexes(core)
            timings["hexes (server, uncached)"].append((time.perf_counter() - t0) * 1000)
        size_live = len(body)

        import uvicorn

        from tests.factories import add_staff
        from tyrehero_app.api.app import create_api
        from tyrehero_app.runtime import set_core

        set_core(core)
        add_staff(core, "benchdisp", "dispatcher", password="bench password 1")
        with socket.socket() as s:
            s.bind(("127.0.0.1", 0))
            port = s.getsockname()[1]
        server = uvicorn.Server(uvicorn.Config(create_api(), host="127.0.0.1", port=port, log_level="warning"))
        threading.Thread(target=server.run, daemon=True).start()
        while not server.started:
            time.sleep(0.05)
        base = f"http://127.0.0.1:{port}"
        with httpx.Client(base_url=base) as client:
            tok = client.post("/api/v1/auth/token", json={"username": "benchdisp", "password": "bench password 1"})
            client.headers["Authorization"] = f"Bearer {tok.json()['access_token']}"
            for path in ("live.geojson", "hexes.geojson"):
                key = f"GET /api/v1/dispatch/{path} (HTTP)"
                timings[key] = []
                etag = None
                for _ in tqdm(range(args.rounds), desc=path):
                    t0 = time.perf_counter()
                    r = client.get(f"/api/v1/dispatch/{path}")
                    timings[key].append((time.perf_counter() - t0) * 1000)
                    etag = r.headers.get("etag")
                key304 = f"GET /api/v1/dispatch/{path} (HTTP, If-None-Match)"
                timings[key304] = []
                for _ in range(args.rounds):
                    t0 = time.perf_counter()
                    client.get(f"/api/v1/dispatch/{path}", headers={"If-None-Match": etag or ""})
                    timings[key304].append((time.perf_counter() - t0) * 1000)
        server.should_exit = True
        print(
            f"\n{args.technicians} technicians, {args.requests} open requests; live.geojson {size_live / 1024:.0f} KB\n"
        )
        print("| layer | p50 ms | p95 ms | p99 ms | n |\n|---|---|---|---|---|")
        for k, xs in timings.items():
            print(_row(k, xs))
        core.close()


if __name__ == "__main__":
    main()
