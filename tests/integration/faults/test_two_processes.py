"""Two API processes on two ports sharing PostgreSQL and Redis: no double assignment, every 2xx stored,
and an event caused through process A heard on process B within 2 s."""

from __future__ import annotations

import concurrent.futures as cf
import os
import subprocess
import sys
import time
from pathlib import Path

import httpx
import sqlalchemy as sa

from core.bootstrap import bootstrap
from core.config import Settings
from core.geo.geocode import OfflineGeocoder
from tests.factories import add_staff, add_technicians, bearer, request_body
from tests.support.redis_server import free_port

ROOT = Path(__file__).resolve().parents[3]



def _start(port: int, env: dict) -> subprocess.Popen:
    cmd = [sys.executable, "-m", "uvicorn", "tyrehero_app.api.standalone:app", "--host", "127.0.0.1",
           "--port", str(port), "--log-level", "warning"]
    return subprocess.Popen(cmd, cwd=ROOT, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)


def _ready(base: str) -> None:
    deadline = time.time() + 30
    while time.time() < deadline:
        try:
            if httpx.get(f"{base}/health", timeout=1).status_code == 200:
                return
        except httpx.HTTPError:
            time.sleep(0.1)
    raise AssertionError(f"{base} did not start")


def test_two_processes(report, database_url: str, clean_db: sa.Engine, server_urls, key_prefix: str) -> None:
    core = bootstrap(Settings(rate_limits_enabled=False), database_url=database_url, redis_url=server_urls[1],
                     key_prefix=key_prefix, geocoder=OfflineGeocoder())
    add_technicians(core, 30, seed=31)
    add_staff(core, "watcher", "dispatcher")
    env = dict(os.environ, DATABASE_URL=database_url, REDIS_URL=server_urls[1], REDIS_KEY_PREFIX=key_prefix,
               RATE_LIMITS_ENABLED="false", DISPATCH_SWEEP_S="1", DEMO_MODE="false")
    ports = [free_port(), free_port()]
    procs = [_start(p, env) for p in ports]
    try:
        bases = [f"http://127.0.0.1:{p}" for p in ports]
        for b in bases:
            _ready(b)
        h = bearer(bases[1], "watcher")
        httpx.get(f"{bases[1]}/api/v1/dispatch/events", headers=h)  # B is listening
        probe = httpx.post(f"{bases[0]}/api/v1/requests", json=request_body(), timeout=30).json()
        started = time.monotonic()
        while time.monotonic() - started < 2.0:
            heard = httpx.get(f"{bases[1]}/api/v1/dispatch/events", headers=h).json()
            if any(e["kind"] == "request_created" and e["request_id"] == probe["id"] for e in heard):
                break
            time.sleep(0.05)
        else:
            raise AssertionError("process B did not hear the event from process A within 2 s")
        heard_after = time.monotonic() - started

        def submit(i: int) -> httpx.Response:
            return httpx.post(f"{bases[i % 2]}/api/v1/requests", json=request_body(), timeout=30)

        with cf.ThreadPoolExecutor(16) as ex:
            answers = list(ex.map(submit, range(200)))
        ok = {a.json()["id"] for a in answers if a.status_code == 201}
        with clean_db.connect() as c:
            stored = {r[0] for r in c.execute(sa.text("SELECT id FROM service_request"))}
            doubles = c.execute(sa.text(
                "SELECT count(*) FROM (SELECT technician_id FROM service_request WHERE status IN"
                " ('assigned','en_route','on_site') GROUP BY technician_id HAVING count(*) > 1) d")).scalar_one()
            assigned = c.execute(sa.text("SELECT count(*) FROM service_request WHERE status = 'assigned'")).scalar_one()
        report(f"\ntwo processes: accepted={len(ok)} stored={len(stored)} assigned={assigned} double={doubles} "
              f"event_heard_on_B_after={heard_after * 1000:.0f} ms")
        assert len(ok) == 200, "every request accepted by one process or the other"
        assert ok <= stored, "no accepted request lost"
        assert doubles == 0, "no van on two jobs"
        assert assigned == 30, "every van got exactly one job"
    finally:
        for p in procs:
            p.kill()
        core.close()
