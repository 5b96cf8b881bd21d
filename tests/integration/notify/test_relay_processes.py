"""The relay in real app processes (the API-only process runs the same background tasks as the full app),
texting through the Twilio stand-in: two processes never send one message twice, and a process killed
while a send is in flight, then restarted, sends every pending message exactly once."""

from __future__ import annotations

import concurrent.futures as cf
import os
import signal
import subprocess
import sys
import time
from collections import Counter
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
import sqlalchemy as sa

from core.phones import normalise_uk_mobile
from tests.factories import request_body
from tests.integration.notify import twilio_stub
from tests.integration.notify.twilio_stub import TwilioStub
from tests.support.redis_server import free_port

ROOT = Path(__file__).resolve().parents[3]
DONE = ("queued", "sent", "delivered", "skipped", "dead", "failed")


@pytest.fixture
def stub() -> Iterator[TwilioStub]:
    s, server = twilio_stub.start()
    yield s
    server.shutdown()
    server.server_close()


def _env(database_url: str, redis_url: str, key_prefix: str, stub: TwilioStub) -> dict[str, str]:
    return dict(os.environ, DATABASE_URL=database_url, REDIS_URL=redis_url, REDIS_KEY_PREFIX=key_prefix,
                RATE_LIMITS_ENABLED="false", DEMO_MODE="false", SEED_DEMO_DATA="false",
                NOTIFY_PROVIDER="twilio", TWILIO_ACCOUNT_SID=stub.account_sid, TWILIO_AUTH_TOKEN=stub.auth_token,
                TWILIO_FROM="+447700900000", TWILIO_BASE_URL=stub.url, PUBLIC_BASE_URL="https://tyrehero.example",
                NOTIFY_LEASE_S="3", NOTIFY_RETRY_BASE_S="0.5", NOTIFY_POLL_S="0.5")


def _start(port: int, env: dict[str, str]) -> subprocess.Popen[bytes]:
    cmd = [sys.executable, "-m", "uvicorn", "tyrehero_app.api.standalone:app", "--host", "127.0.0.1",
           "--port", str(port), "--log-level", "warning"]
    proc = subprocess.Popen(cmd, cwd=ROOT, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.time() + 40
    while time.time() < deadline:
        try:
            if httpx.get(f"http://127.0.0.1:{port}/health", timeout=1).status_code == 200:
                return proc
        except httpx.HTTPError:
            time.sleep(0.1)
    proc.kill()
    raise AssertionError(f"the app on port {port} did not start")


def _submit(base: str) -> str:
    body = request_body()
    r = httpx.post(f"{base}/api/v1/requests", json=body, timeout=30)
    assert r.status_code == 201, r.text
    return normalise_uk_mobile(body["phone"])


def _wait_all_done(engine: sa.Engine, expected: int, timeout_s: float = 60) -> list[sa.Row]:
    deadline = time.time() + timeout_s
    while True:
        with engine.connect() as c:
            rows = c.execute(sa.text("SELECT id, status, attempts, in_doubt FROM outbound_message ORDER BY id")).all()
        if len(rows) >= expected and all(r.status in DONE for r in rows):
            return rows
        if time.time() > deadline:
            raise AssertionError(f"not all texts were sent in {timeout_s} s: {Counter(r.status for r in rows)}")
        time.sleep(0.2)


def test_two_app_processes_never_send_one_message_twice(report, database_url: str, clean_db: sa.Engine,
                                                          server_urls, key_prefix: str, stub: TwilioStub) -> None:
    env = _env(database_url, server_urls[1], key_prefix, stub)
    ports = [free_port(), free_port()]
    procs = [_start(p, env) for p in ports]
    try:
        bases = [f"http://127.0.0.1:{p}" for p in ports]
        with cf.ThreadPoolExecutor(8) as ex:
            numbers = list(ex.map(lambda i: _submit(bases[i % 2]), range(60)))
        rows = _wait_all_done(clean_db, 60)
    finally:
        for p in procs:
            p.kill()
    texts = Counter(m.to for m in stub.messages)
    report(f"\ntwo processes: {len(numbers)} requests, {len(rows)} outbox rows, {len(stub.messages)} texts at the "
           f"provider, most to one number {max(texts.values())}")
    assert Counter(r.status for r in rows) == {"queued": 60}, "every 'received' text went out"
    assert texts == Counter(numbers), "each driver got exactly one text: none lost, none sent twice"


def test_an_app_killed_mid_send_and_restarted_sends_each_pending_message_once(
        report, database_url: str, clean_db: sa.Engine, server_urls, key_prefix: str, stub: TwilioStub) -> None:
    env = _env(database_url, server_urls[1], key_prefix, stub)
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    proc = _start(port, env)
    try:
        stub.slow_next, stub.slow_s = 100, 30.0  # Twilio takes each text and answers too late
        numbers = [_submit(base) for _ in range(12)]
        deadline = time.time() + 20
        while not stub.messages and time.time() < deadline:
            time.sleep(0.05)
        assert stub.messages, "the relay started sending"
        proc.send_signal(signal.SIGKILL)  # mid-send: the provider took a text, its answer never came
        proc.wait(10)
        taken_before_kill = len(stub.messages)
        with clean_db.connect() as c:
            left = Counter(c.execute(sa.text("SELECT status FROM outbound_message")).scalars())
        stub.slow_next = 0
        proc = _start(port, env)
        rows = _wait_all_done(clean_db, 12)
    finally:
        proc.kill()
    texts = Counter(m.to for m in stub.messages)
    report(f"\nkilled mid-send: {taken_before_kill} text(s) taken by the provider before the kill, outbox then "
           f"{dict(left)}; after restart {len(stub.messages)} texts for {len(numbers)} requests, "
           f"{sum(1 for r in rows if r.attempts > 1)} recovered by a second attempt")
    assert left["sending"] >= 1, f"{left}: the kill came while a send was in flight"
    assert Counter(r.status for r in rows) == {"queued": 12}, "every pending text went out after the restart"
    assert texts == Counter(numbers), "each driver got exactly one text: the in-flight one was found, not resent"
