"""The restore drill: under a steady stream of submissions, take a base backup, keep writing, destroy the
primary, restore the backup plus the WAL archive into a new folder, start the API on it, and measure.

RPO: accepted requests (201) missing after the restore, and the seconds of accepted writes lost.
RTO: seconds from the loss of the primary to `/health` answering 200 from an API on the restored database.
The archive is `deploy/backup/wal-stream.sh` (pg_receivewal as a synchronous standby), the backup and the
restore are `base-backup.sh` and `restore.sh`: the runbook's own steps (docs/OPERATIONS.md).
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

import httpx
import psycopg
import pytest
import uvicorn

from core.bootstrap import bootstrap
from core.config import Settings
from core.geo.geocode import OfflineGeocoder
from core.infra import db
from tests.factories import request_body
from tests.integration.ops import pg_cluster
from tests.integration.ops.pg_cluster import BACKUP_SCRIPTS, ROOT, PgCluster, give_to_postgres, run
from tests.support.redis_server import free_port

pytestmark = pytest.mark.skipif(not pg_cluster.available(), reason=f"PostgreSQL 15 tools not in {pg_cluster.PG_BIN}")

RPO_TARGET_S = 60
RTO_TARGET_S = 300
WRITERS = 4
PAUSE_S = 0.05  # between one writer's submissions: a steady stream of about 60 a second in all


@dataclass
class Stream:
    """Writers submitting through the API; `accepted` maps each 201's reference to when it was answered."""

    base: str
    accepted: dict[str, float] = field(default_factory=dict)
    failed: list[float] = field(default_factory=list)  # when each refused or failed submission was answered
    stop: threading.Event = field(default_factory=threading.Event)
    threads: list[threading.Thread] = field(default_factory=list)

    def start(self) -> Stream:
        for _ in range(WRITERS):
            t = threading.Thread(target=self._write, daemon=True)
            t.start()
            self.threads.append(t)
        return self

    def _write(self) -> None:
        with httpx.Client(base_url=self.base, timeout=10) as client:
            while not self.stop.is_set():
                try:
                    r = client.post("/api/v1/requests", json=request_body())
                    if r.status_code == 201:
                        self.accepted[r.json()["reference"]] = time.time()
                    else:
                        self.failed.append(time.time())
                except httpx.HTTPError:
                    self.failed.append(time.time())
                time.sleep(PAUSE_S)

    def end(self) -> None:
        self.stop.set()
        for t in self.threads:
            t.join(15)


def _serve_in_thread(url: str, redis_url: str, key_prefix: str) -> tuple[uvicorn.Server, str, Callable[[], None]]:
    from tyrehero_app.api.app import create_api
    from tyrehero_app.runtime import set_core

    core = bootstrap(Settings(rate_limits_enabled=False), database_url=url, redis_url=redis_url,
                     key_prefix=key_prefix, geocoder=OfflineGeocoder(), pool_size=8)
    set_core(core)
    port = free_port()
    server = uvicorn.Server(uvicorn.Config(create_api(core.settings), host="127.0.0.1", port=port,
                                           log_level="critical"))
    threading.Thread(target=server.run, daemon=True).start()
    while not server.started:
        time.sleep(0.02)

    def close() -> None:
        server.should_exit = True
        set_core(None)
        core.close()

    return server, f"http://127.0.0.1:{port}", close


def _start_api_process(url: str, redis_url: str, key_prefix: str) -> tuple[subprocess.Popen[bytes], str]:
    port = free_port()
    env = dict(os.environ, DATABASE_URL=url, REDIS_URL=redis_url, REDIS_KEY_PREFIX=key_prefix,
               RATE_LIMITS_ENABLED="false", DEMO_MODE="false", SEED_DEMO_DATA="false")
    cmd = [sys.executable, "-m", "uvicorn", "tyrehero_app.api.standalone:app", "--host", "127.0.0.1",
           "--port", str(port), "--log-level", "warning"]
    proc = subprocess.Popen(cmd, cwd=ROOT, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    return proc, f"http://127.0.0.1:{port}"


def _poll_health(base: str, deadline: float) -> None:
    while time.monotonic() < deadline:
        try:
            if httpx.get(f"{base}/health", timeout=2).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.1)
    raise AssertionError(f"{base}/health never answered 200")


def _wait_sync_archive(url: str, timeout_s: float = 30) -> None:
    """Until the archive streams as the synchronous standby (before it, a commit would wait for it)."""
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        with psycopg.connect(url) as c:
            row = c.execute("SELECT sync_state FROM pg_stat_replication WHERE application_name = 'tyrehero_archive'"
                            " AND state = 'streaming'").fetchone()
        if row and row[0] == "sync":
            return
        time.sleep(0.1)
    raise AssertionError("the WAL archive (pg_receivewal) never became the synchronous standby")


@pytest.fixture
def drill_home() -> Iterator[Path]:
    home = Path(tempfile.mkdtemp(prefix="th-drill-"))
    give_to_postgres(home)
    yield home
    for data in home.iterdir():  # a restored server left running by a failed drill
        pg_cluster.stop_data_dir(data)
    shutil.rmtree(home, ignore_errors=True)


def _spawn_stream(cluster: PgCluster, archive: Path) -> subprocess.Popen[bytes]:
    log = (cluster.home / f"wal-stream-{archive.name}.log").open("ab")
    p = subprocess.Popen([str(BACKUP_SCRIPTS / "wal-stream.sh"), str(archive)], env=cluster.env(), stdout=log,
                         stderr=log, start_new_session=True, cwd="/", **pg_cluster.as_postgres())
    log.close()
    return p


def test_restore_drill_loses_no_accepted_request(report, drill_home: Path, server_urls, key_prefix: str) -> None:
    home = drill_home
    archive, backup = home / "archive", home / "base"
    primary = PgCluster(home, "primary").initdb(f"include '{BACKUP_SCRIPTS / 'primary.conf'}'").start()
    streamer = _spawn_stream(primary, archive)
    restored_api: subprocess.Popen[bytes] | None = None
    restarted_stream: subprocess.Popen[bytes] | None = None
    watchdog: subprocess.Popen[bytes] | None = None
    close_app: Callable[[], None] | None = None
    try:
        _wait_sync_archive(primary.url)
        db.migrate(primary.url)
        _, base, close_app = _serve_in_thread(primary.url, server_urls[1], key_prefix)
        stream = Stream(base).start()
        time.sleep(3)
        t0 = time.monotonic()
        run([str(BACKUP_SCRIPTS / "base-backup.sh"), str(backup)], env=primary.env())
        backup_s = time.monotonic() - t0
        at_backup = len(stream.accepted)
        time.sleep(3)

        lost_at, lost_wall = time.monotonic(), time.time()
        primary.destroy()  # SIGKILL to every process of the primary, then rm -rf of its data folder
        stream.end()
        close_app()
        close_app = None
        streamer.kill()  # a supervisor would keep it retrying a primary that no longer exists

        restored = PgCluster(home, "restored")
        run([str(BACKUP_SCRIPTS / "restore.sh"), str(backup), str(archive), str(restored.data), str(restored.port)],
            env=restored.env(), timeout=RTO_TARGET_S)
        db_up_s = time.monotonic() - lost_at
        restored_api, api_base = _start_api_process(restored.url, server_urls[1], key_prefix)
        _poll_health(api_base, lost_at + RTO_TARGET_S)
        rto_s = time.monotonic() - lost_at

        with psycopg.connect(restored.url) as c:
            present = {r[0] for r in c.execute("SELECT reference FROM service_request")}
        accepted = stream.accepted
        missing = set(accepted) - present
        last_accepted = max(accepted.values())
        kept = [t for ref, t in accepted.items() if ref in present]
        rpo_s = last_accepted - max(kept) if missing else 0.0
        after = httpx.post(f"{api_base}/api/v1/requests", json=request_body(), timeout=10)

        # The runbook's last step: archive the new primary again; the watchdog requires it once it streams.
        restarted_stream = _spawn_stream(restored, home / "archive-2")
        watchdog = subprocess.Popen([str(BACKUP_SCRIPTS / "archive-watchdog.sh")], env=restored.env(),
                                    stdout=subprocess.DEVNULL, start_new_session=True, cwd="/",
                                    **pg_cluster.as_postgres())
        _wait_sync_archive(restored.url)
        rearmed = httpx.post(f"{api_base}/api/v1/requests", json=request_body(), timeout=10)

        failed_before = sum(t < lost_wall for t in stream.failed)
        report(f"\nrestore drill: accepted={len(accepted)} (at base backup {at_backup}), failed before the loss="
               f"{failed_before}, after={len(stream.failed) - failed_before}; restored={len(present)} missing="
               f"{len(missing)} stored_without_201={len(present - set(accepted))} | RPO {rpo_s:.1f} s of writes, last"
               f" write {lost_wall - last_accepted:.2f} s before the loss | base backup {backup_s:.1f} s | RTO"
               f" {rto_s:.1f} s (database serving after {db_up_s:.1f} s, API /health 200 after {rto_s:.1f} s)")
        assert len(accepted) > 100, "the stream kept writing through the drill"
        assert len(accepted) > at_backup, "requests were accepted after the base backup"
        assert failed_before == 0, "every submission before the loss was accepted"
        assert not missing, f"accepted requests missing after the restore: {sorted(missing)[:5]}"
        assert rpo_s <= RPO_TARGET_S, f"RPO {rpo_s:.1f} s is over {RPO_TARGET_S} s"
        assert rto_s <= RTO_TARGET_S, f"RTO {rto_s:.1f} s is over {RTO_TARGET_S} s"
        assert after.status_code == 201, f"the restored database takes requests: {after.status_code} {after.text}"
        assert rearmed.status_code == 201, "requests are taken once the new primary is archived synchronously again"
    finally:
        if close_app is not None:
            close_app()
        for p in (streamer, restarted_stream, watchdog, restored_api):
            if p is not None and p.poll() is None:
                p.kill()
                p.wait(10)
        primary.stop()
