"""The WAL archive is a synchronous standby, so a commit waits for it; when the archiver is gone, the watchdog
stops requiring it within ARCHIVE_GRACE_S (commits go on) and requires it again once it streams."""

from __future__ import annotations

import shutil
import subprocess
import tempfile
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import psycopg
import pytest

from tests.integration.ops import pg_cluster
from tests.integration.ops.pg_cluster import BACKUP_SCRIPTS, PgCluster, as_postgres, give_to_postgres

pytestmark = pytest.mark.skipif(not pg_cluster.available(), reason=f"PostgreSQL 15 tools not in {pg_cluster.PG_BIN}")

GRACE_S = 2


@pytest.fixture
def home() -> Iterator[Path]:
    path = Path(tempfile.mkdtemp(prefix="th-watchdog-"))
    give_to_postgres(path)
    yield path
    shutil.rmtree(path, ignore_errors=True)


def _spawn(cmd: list[str], cluster: PgCluster, log: Path, **env: str) -> subprocess.Popen[bytes]:
    with log.open("ab") as out:
        return subprocess.Popen(cmd, env={**cluster.env(), **env}, stdout=out, stderr=out, start_new_session=True,
                                cwd="/", **as_postgres())


def _required(url: str) -> str:
    with psycopg.connect(url) as c:
        return str(c.execute("SHOW synchronous_standby_names").fetchone()[0])  # type: ignore[index]


def _until(check, timeout_s: float) -> bool:  # type: ignore[no-untyped-def]
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if check():
            return True
        time.sleep(0.1)
    return False


def test_commits_wait_for_a_lost_archive_at_most_the_grace_time(report, home: Path) -> None:
    primary = PgCluster(home, "primary").initdb(f"include '{BACKUP_SCRIPTS / 'primary.conf'}'").start()
    stream = _spawn([str(BACKUP_SCRIPTS / "wal-stream.sh"), str(home / "archive")], primary, home / "stream.log")
    watchdog = _spawn([str(BACKUP_SCRIPTS / "archive-watchdog.sh")], primary, home / "watchdog.log",
                      ARCHIVE_GRACE_S=str(GRACE_S), ARCHIVE_CHECK_S="0.2")
    restarted: subprocess.Popen[bytes] | None = None
    try:
        with psycopg.connect(primary.url, autocommit=True) as c:
            c.execute("CREATE TABLE t (x int)")  # waits for the archive: it streams
        stream.kill()
        stream.wait(10)
        done: dict[str, float] = {}

        def write() -> None:
            start = time.monotonic()
            with psycopg.connect(primary.url, autocommit=True) as c:
                c.execute("INSERT INTO t VALUES (1)")
            done["s"] = time.monotonic() - start

        writer = threading.Thread(target=write, daemon=True)
        writer.start()
        writer.join(GRACE_S + 10)
        report(f"\narchive lost: a commit waited {done.get('s', float('nan')):.1f} s (grace {GRACE_S} s)")
        assert "s" in done, "the commit went through once the watchdog stopped requiring the archive"
        assert done["s"] > 0.5, "the commit did wait for the lost archive first"
        # The grace is counted in whole seconds from the first check that misses the archive.
        assert done["s"] < GRACE_S + 3, f"the commit waited about the grace time, not more ({done['s']:.1f} s)"
        assert _required(primary.url) == "", "the archive is no longer required while it is gone"
        assert _until(lambda: "ARCHIVE LOST" in (home / "watchdog.log").read_text(), 5), "the watchdog says so loudly"

        restarted = _spawn([str(BACKUP_SCRIPTS / "wal-stream.sh"), str(home / "archive")], primary, home / "stream.log")
        assert _until(lambda: _required(primary.url) == "tyrehero_archive", 15), "required again once it streams"
    finally:
        for p in (stream, watchdog, restarted):
            if p is not None and p.poll() is None:
                p.kill()
                p.wait(10)
        primary.stop()
