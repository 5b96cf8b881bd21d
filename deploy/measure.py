"""Bytes per refresh of the dispatcher's live layer through a running `make prod`, plain and gzipped.

    DEMO_FLEET_SIZE=5000 DEMO_MODE=false make prod        # an empty data folder: 5,000 demo vans
    python -m deploy.measure --requests 500               # in a second terminal

Submits `--requests` requests (through nginx, as drivers), then fetches `live.geojson` as the console's
map does each refresh: without gzip, with gzip, and unchanged (If-None-Match). Prints the bytes on the wire.
"""

from __future__ import annotations

import argparse
import os

import httpx

from tests.factories import request_body


def main() -> None:
    ap = argparse.ArgumentParser(prog="python -m deploy.measure", description=__doc__.split("\n")[0])
    ap.add_argument("--url", default=f"http://127.0.0.1:{os.environ.get('PORT', '3000')}")
    ap.add_argument("--requests", type=int, default=500)
    ap.add_argument("--user", default="dispatch")
    ap.add_argument("--password", default="dispatch-demo-1")
    args = ap.parse_args()
    with httpx.Client(base_url=args.url, timeout=30) as client:
        for _ in range(args.requests):
            client.post("/api/v1/requests", json=request_body()).raise_for_status()
        token = client.post("/api/v1/auth/token", json={"username": args.user, "password": args.password})
        token.raise_for_status()
        auth = {"Authorization": f"Bearer {token.json()['access_token']}"}
        plain = client.get("/api/v1/dispatch/live.geojson", headers={**auth, "Accept-Encoding": "identity"})
        packed = client.get("/api/v1/dispatch/live.geojson", headers={**auth, "Accept-Encoding": "gzip"})
        same = client.get("/api/v1/dispatch/live.geojson",
                          headers={**auth, "Accept-Encoding": "gzip", "If-None-Match": packed.headers["etag"]})
    features = len(plain.json()["features"])
    print(f"live.geojson, {features:,} features: plain {plain.num_bytes_downloaded:,} bytes; gzip"
          f" {packed.num_bytes_downloaded:,} bytes ({plain.num_bytes_downloaded / packed.num_bytes_downloaded:.1f}x);"
          f" unchanged: {same.status_code}, {same.num_bytes_downloaded} bytes of body")


if __name__ == "__main__":
    main()
