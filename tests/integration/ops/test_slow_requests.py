"""The slow-request log, read from a real API process's stderr: a request held up by a locked table is logged
with its route and its database, Redis and total times; quick ones are not."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
import sqlalchemy as sa

from tests.factories import request_body
from tests.integration.ops.stuck import table_locked
from tests.support.redis_server import free_port

ROOT = Path(__file__).resolve().parents[3]
THRESHOLD_MS = 1000
HELD_S = 1.5


class ApiProcess:
    def __init__(self, base: str, log: Path) -> None:
        self.base = base
        self.log = log

    def events(self, name: str) -> list[dict]:
        out = []
        for line in self.log.read_text(errors="replace").splitlines():
            try:
                entry = json.loads(line)
            except ValueError:
                continue
            if isinstance(entry, dict) and entry.get("event") == name:
                out.append(entry)
        return out


@pytest.fixture
def api_process(clean_db: sa.Engine, database_url: str, server_urls, key_prefix: str,
                tmp_path: Path) -> Iterator[ApiProcess]:
    port = free_port()
    env = dict(os.environ, DATABASE_URL=database_url, REDIS_URL=server_urls[1], REDIS_KEY_PREFIX=key_prefix,
               RATE_LIMITS_ENABLED="true", DEMO_MODE="false", SEED_DEMO_DATA="false", LOG_JSON="true",
               SLOW_REQUEST_MS=str(THRESHOLD_MS))
    log = tmp_path / "api.log"
    with log.open("wb") as out:
        proc = subprocess.Popen([sys.executable, "-m", "uvicorn", "tyrehero_app.api.standalone:app", "--host",
                                 "127.0.0.1", "--port", str(port), "--log-level", "warning"],
                                cwd=ROOT, env=env, stdout=out, stderr=out)
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                if httpx.get(f"{base}/health", timeout=2).status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            assert time.monotonic() < deadline, f"the API did not start: {log.read_text()[-2000:]}"
            time.sleep(0.1)
        yield ApiProcess(base, log)
    finally:
        proc.terminate()
        proc.wait(20)


def test_a_slow_request_is_logged_with_its_route_and_timings_and_quick_ones_are_not(
        report, api_process: ApiProcess, database_url: str) -> None:
    api = api_process
    httpx.post(f"{api.base}/api/v1/requests", json=request_body(), timeout=10)  # warm: first calls build caches
    for _ in range(3):
        assert httpx.get(f"{api.base}/health", timeout=5).status_code == 200, "ready"
    time.sleep(0.2)
    before = api.events("slow_request")  # the warm-up may be among them: a cold process is slow
    quick = [e for e in before if e.get("route") == "/health"]
    answer: dict[str, httpx.Response] = {}
    with table_locked(database_url, "service_request"):
        t = threading.Thread(target=lambda: answer.setdefault(
            "r", httpx.post(f"{api.base}/api/v1/requests", json=request_body(), timeout=30)))
        t.start()
        time.sleep(HELD_S)
    t.join(30)
    assert answer["r"].status_code == 201, "the held-up request is stored once the lock is released"
    deadline = time.monotonic() + 5
    while len(logged := api.events("slow_request")) == len(before) and time.monotonic() < deadline:
        time.sleep(0.05)
    slow = logged[len(before):]
    report(f"\nslow-request log: {slow[-1] if slow else None}")
    assert not quick, f"quick /health calls are not logged: {quick}"
    assert len(slow) == 1, "the held-up submission is logged once"
    entry = slow[0]
    assert entry["route"] == "/api/v1/requests", "the line names the route's template"
    assert entry["method"] == "POST", "the line names the method"
    assert entry["status"] == 201, "the line names the status"
    assert entry["total_ms"] >= HELD_S * 1000 * 0.9, "total covers the wait"
    assert entry["db_ms"] >= HELD_S * 1000 * 0.8, "the wait is counted as database time"
    assert entry["db_ms"] <= entry["total_ms"], "database time is part of the total"
    assert entry["redis_ms"] > 0, "the rate limits' Redis calls are counted"
    assert entry["redis_ms"] < entry["total_ms"], "Redis time is part of the total"
    assert entry.get("request_id"), "the line carries the request's id"
