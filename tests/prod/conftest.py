"""The production shape (`deploy.prod.Shape`: nginx, 2 app processes, PgBouncer, PostgreSQL 15 with
pg_stat_statements, Redis) started once for these tests, and the customers that load it.

The shape owns its PostgreSQL (a throw-away cluster of Debian's postgresql-15: pg_stat_statements must be
preloaded, which the shared server is not) and its Redis (embedded), both in a temporary folder.
"""

from __future__ import annotations

import os
import shutil
import tempfile
import threading
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import httpx
import pytest

from deploy.prod import Shape
from tests.factories import request_body
from tests.support.redis_server import free_port

# Retried on another try with the same Idempotency-Key: the request may or may not have reached a process.
IN_FLIGHT = (httpx.TransportError,)
GATEWAY = {502, 503, 504}


@pytest.fixture(scope="session")
def shape() -> Iterator[Shape]:
    for tool in ("nginx", "pgbouncer"):
        if not shutil.which(tool):
            pytest.fail(f"{tool} not found: run `make lb` (apt-get install nginx-light pgbouncer postgresql-15)")
    data_dir = Path(tempfile.mkdtemp(prefix="tyrehero-prod-"))
    os.chmod(data_dir, 0o755)  # PostgreSQL and PgBouncer run as `postgres` when we are root
    env = {"DEMO_MODE": "false", "SEED_DEMO_DATA": "true", "DEMO_FLEET_SIZE": "80", "RATE_LIMITS_ENABLED": "false",
           "DISPATCH_SWEEP_S": "1", "POSITION_MAX_AGE_S": "86400", "OFFER_TIMEOUT_S": "600", "LOG_JSON": "true"}
    s = Shape(data_dir, port=free_port(), processes=2, extra_env=env)
    try:
        s.start()
        yield s
    finally:
        s.stop()
        shutil.rmtree(data_dir, ignore_errors=True)


@dataclass
class Customers:
    """Drivers submitting through nginx, each submission retried with its own Idempotency-Key when it was in
    flight (connection lost, or a gateway error) - never a new request for the same breakdown."""

    base: str
    threads: int = 2
    pause_s: float = 0.3
    accepted: dict[str, dict] = field(default_factory=dict)  # Idempotency-Key -> the 201 body
    failed_tries: int = 0  # answers that were not a 201 (each then retried)
    retried: int = 0  # submissions that needed a second try or more
    lost: list[str] = field(default_factory=list)  # keys never accepted after every try
    tracked: int = 0
    tracking_failed: int = 0
    _stop: threading.Event = field(default_factory=threading.Event)
    _lock: threading.Lock = field(default_factory=threading.Lock)
    _workers: list[threading.Thread] = field(default_factory=list)

    def start(self) -> Customers:
        for i in range(self.threads):
            t = threading.Thread(target=self._run, args=(i,), daemon=True)
            t.start()
            self._workers.append(t)
        return self

    def stop(self) -> None:
        self._stop.set()
        for t in self._workers:
            t.join(60)

    def _run(self, i: int) -> None:
        with httpx.Client(base_url=self.base, timeout=15) as client:
            while not self._stop.is_set():
                self._submit(client)
                self._track(client)
                time.sleep(self.pause_s)

    def _submit(self, client: httpx.Client) -> None:
        key = str(uuid.uuid4())
        body = request_body()
        for attempt in range(8):
            try:
                r = client.post("/api/v1/requests", json=body, headers={"Idempotency-Key": key})
            except IN_FLIGHT:
                r = None
            if r is not None and r.status_code in (200, 201):
                with self._lock:
                    self.accepted[key] = r.json()
                    self.retried += attempt > 0
                return
            with self._lock:
                self.failed_tries += 1
            if r is not None and r.status_code not in GATEWAY:
                break  # a real refusal (4xx): retrying would not help
            time.sleep(0.2 * (attempt + 1))
        with self._lock:
            self.lost.append(key)

    def _track(self, client: httpx.Client) -> None:
        with self._lock:
            if not self.accepted:
                return
            token = next(reversed(self.accepted.values()))["tracking_token"]
        try:
            ok = client.get(f"/api/v1/requests/track/{token}").status_code == 200
        except IN_FLIGHT:
            ok = False
        with self._lock:
            self.tracked += 1
            self.tracking_failed += not ok

    def summary(self) -> str:
        return (f"accepted={len(self.accepted)} failed_tries={self.failed_tries} retried={self.retried} "
                f"lost={len(self.lost)} tracked={self.tracked} tracking_failed={self.tracking_failed}")


def stored_ids(shape: Shape, ids: set[int]) -> set[int]:
    """Which of these request ids are rows in PostgreSQL (read straight, not through PgBouncer)."""
    import sqlalchemy as sa

    engine = sa.create_engine(shape.direct_url)
    try:
        with engine.connect() as c:
            return {r[0] for r in c.execute(sa.text("SELECT id FROM service_request WHERE id = ANY(:ids)"),
                                            {"ids": list(ids)})}
    finally:
        engine.dispose()
