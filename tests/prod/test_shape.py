"""What the production shape promises besides failover: compression, cache lifetimes, the client's address,
PgBouncer in transaction pooling with psycopg, and pg_stat_statements' top statements."""

from __future__ import annotations

import subprocess
import sys
import time
import uuid
from collections.abc import Callable

import httpx
import psycopg
import pytest
import sqlalchemy as sa

from core.infra.db import make_engine
from deploy.prod import ROOT, STATIC_DIR, Shape
from tests.factories import request_body


def _dispatcher(shape: Shape) -> dict[str, str]:
    r = httpx.post(f"{shape.url}/api/v1/auth/token", json={"username": "dispatch", "password": "dispatch-demo-1"})
    assert r.status_code == 200, r.text
    return {"Authorization": f"Bearer {r.json()['access_token']}"}


def test_live_layer_is_gzipped_by_nginx_and_still_answers_304(shape: Shape, report: Callable[[str], None]) -> None:
    h = _dispatcher(shape)
    with httpx.Client(base_url=shape.url, timeout=10) as client:
        for _ in range(10):  # the layer moves while the sweep dispatches: take a moment it stands still
            plain = client.get("/api/v1/dispatch/live.geojson", headers={**h, "Accept-Encoding": "identity"})
            packed = client.get("/api/v1/dispatch/live.geojson", headers={**h, "Accept-Encoding": "gzip"})
            again = client.get("/api/v1/dispatch/live.geojson",
                               headers={**h, "Accept-Encoding": "gzip", "If-None-Match": packed.headers["etag"]})
            if packed.headers["etag"].removeprefix("W/") == plain.headers["etag"] and again.status_code == 304:
                break
            time.sleep(0.5)
    wire_plain, wire_packed = plain.num_bytes_downloaded, packed.num_bytes_downloaded
    report(f"\nlive.geojson through nginx ({len(plain.json()['features'])} features): {wire_plain:,} bytes plain, "
           f"{wire_packed:,} gzipped ({wire_plain / wire_packed:.1f}x); unchanged refresh: {again.status_code}")
    assert packed.headers.get("content-encoding") == "gzip", "the layer is gzipped for a browser that accepts it"
    assert wire_packed * 4 < wire_plain, "gzip shrinks the layer at least 4-fold"
    assert packed.json() == plain.json(), "the same layer either way"
    assert again.status_code == 304, "the tag nginx weakened while gzipping still earns a 304"


def test_hashed_assets_are_cached_for_a_year_and_pages_are_revalidated(shape: Shape) -> None:
    asset = next(p for p in (STATIC_DIR / "assets").iterdir() if p.suffix == ".js")
    with httpx.Client(base_url=shape.url, timeout=10) as client:
        js = client.get(f"/assets/{asset.name}", headers={"Accept-Encoding": "gzip"})
        page = client.get("/")
        health = client.get("/health")
    assert js.status_code == 200 and js.headers["cache-control"] == "public, max-age=31536000, immutable", \
        "a hashed asset is cached for a year"
    assert js.headers.get("content-encoding") == "gzip", "the build's own .gz is sent (gzip_static)"
    assert page.status_code == 200 and page.headers["cache-control"] == "no-cache", "HTML is revalidated"
    assert "immutable" not in health.headers.get("cache-control", ""), "only hashed assets are immutable"


def test_websocket_upgrade_passes_through_nginx(shape: Shape) -> None:
    r = httpx.get(f"{shape.url}/_event/?EIO=4&transport=polling", timeout=10)
    assert r.status_code != 502, "the app answers on /_event behind nginx"
    import socketio

    client = socketio.Client(reconnection=False)
    try:
        client.connect(f"{shape.url}?token={uuid.uuid4()}", socketio_path="/_event", transports=["websocket"],
                       namespaces=["/_event"], headers={"Origin": shape.url}, wait_timeout=10)
        assert client.connected, "a Socket.IO WebSocket connects through nginx"
    finally:
        client.disconnect()


def test_psycopg_needs_prepared_statements_off_behind_pgbouncer(shape: Shape) -> None:
    """PgBouncer 1.18 in transaction pooling: a statement prepared on one server connection is unknown on another.
    The app processes turn preparing off (deploy.worker): a statement run in 12 transactions then never fails."""
    dsn = shape.pooled_url.replace("postgresql+psycopg://", "postgresql://")
    plain, holder = psycopg.connect(dsn), psycopg.connect(dsn)
    try:
        for attempt in range(20):  # until `holder` holds the very server connection the statement lives on
            name = f"counted_{attempt}"  # what psycopg does after a query's 5th run, under a name of our own
            with plain.transaction():  # a transaction keeps one server connection throughout
                plain.execute(f"PREPARE {name} AS SELECT count(*) FROM technician")
                prepared_on = plain.execute("SELECT pg_backend_pid()").fetchone()
            held = holder.execute("SELECT pg_backend_pid()").fetchone()  # this open transaction now holds one
            if held == prepared_on:
                break
            holder.rollback()
        assert held == prepared_on, "the holder got the server connection the statement was prepared on"
        with pytest.raises(psycopg.errors.InvalidSqlStatementName):
            plain.execute(f"EXECUTE {name}")  # the next transaction runs on another server connection
    finally:
        plain.rollback()
        holder.rollback()
        holder.close()
        plain.close()
    engine = make_engine(shape.pooled_url, pool_size=1, prepared=False)
    try:
        with engine.connect() as a, engine.connect() as b:
            b.execute(sa.text("SELECT 1"))  # keeps a server connection busy throughout
            counts = []
            for _ in range(12):  # each in its own transaction, so PgBouncer may hand it any server connection
                counts.append(a.execute(sa.text("SELECT count(*) FROM technician")).scalar())
                a.commit()
            assert a.connection.driver_connection.prepare_threshold is None, "the app's switch turns preparing off"
        assert len(set(counts)) == 1, "a statement run 12 times through PgBouncer never fails once preparing is off"
    finally:
        engine.dispose()


def test_client_address_is_the_one_nginx_saw(shape: Shape) -> None:
    """The app believes X-Forwarded-For from nginx (TRUSTED_PROXIES=127.0.0.1/32), and nginx writes the address it
    saw there, replacing the client's own header. /metrics answers loopback only: a made-up header would say
    203.0.113.9 and be refused, as it is when sent straight to an app process from a trusted address."""
    spoofed = {"X-Forwarded-For": "203.0.113.9"}
    straight = httpx.get(f"http://127.0.0.1:{shape.apps[0].port}/metrics", headers=spoofed, timeout=10)
    through = httpx.get(f"{shape.url}/metrics", headers=spoofed, timeout=10)
    assert straight.status_code == 403, "the app takes the client from X-Forwarded-For when a trusted proxy sends it"
    assert through.status_code == 200, "through nginx the client is the address nginx saw (loopback), not the header"


def test_top_statements_command_lists_the_intake_insert(shape: Shape) -> None:
    for _ in range(3):
        assert httpx.post(f"{shape.url}/api/v1/requests", json=request_body(), timeout=15).status_code == 201
    out = subprocess.run([sys.executable, "-m", "deploy.prod", "top-statements", "--limit", "40"], cwd=ROOT,
                         env={"DATABASE_URL": shape.direct_url, "PATH": "/usr/bin:/bin"}, capture_output=True,
                         text=True, timeout=60)
    assert out.returncode == 0, out.stderr
    assert out.stdout.splitlines()[0].split()[:3] == ["calls", "total", "ms"], "a header line first"
    assert "INSERT INTO service_request" in out.stdout, "the intake's insert is among the top statements"
