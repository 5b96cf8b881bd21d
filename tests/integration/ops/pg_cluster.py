"""A PostgreSQL cluster of a test's own (initdb + postgres from the Debian packages) on a free loopback port.

Never the machine's cluster: its own data folder, port and socket folder. Run as the `postgres` user when the
tests run as root (PostgreSQL refuses root), so the backup scripts in deploy/backup/ run as that user too.
"""

from __future__ import annotations

import contextlib
import os
import pwd
import shutil
import signal
import subprocess
import time
from pathlib import Path
from typing import Any

import psycopg

from tests.support.redis_server import free_port

PG_BIN = Path(os.environ.get("PG_BIN", "/usr/lib/postgresql/15/bin"))
ROOT = Path(__file__).resolve().parents[3]
BACKUP_SCRIPTS = ROOT / "deploy" / "backup"


def available() -> bool:
    return (PG_BIN / "initdb").exists() and (PG_BIN / "pg_receivewal").exists()


def as_postgres() -> dict[str, Any]:
    """subprocess arguments that drop root to the postgres user (nothing when not root)."""
    if os.geteuid() != 0:
        return {}
    return {"user": "postgres", "group": "postgres"}


def give_to_postgres(path: Path) -> None:
    if os.geteuid() == 0:
        pw = pwd.getpwnam("postgres")
        os.chown(path, pw.pw_uid, pw.pw_gid)


def run(cmd: list[str], env: dict[str, str] | None = None, timeout: float = 120) -> str:
    """Run a tool or script as the cluster's user; its output on failure."""
    p = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=timeout, cwd="/", **as_postgres())
    if p.returncode != 0:
        raise AssertionError(f"{' '.join(cmd)} failed ({p.returncode}):\n{p.stdout}\n{p.stderr}")
    return p.stdout


class PgCluster:
    """One cluster in `<home>/<name>`; its socket in `<home>/sockets` so the data folder can be destroyed alone."""

    def __init__(self, home: Path, name: str, port: int | None = None) -> None:
        self.home = home
        self.data = home / name
        self.port = port or free_port()
        self.sockets = home / "sockets"
        self.proc: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"postgresql://postgres@127.0.0.1:{self.port}/postgres"

    def env(self) -> dict[str, str]:
        """libpq variables for the backup scripts."""
        return {**os.environ, "PGHOST": "127.0.0.1", "PGPORT": str(self.port), "PGUSER": "postgres",
                "PG_BIN": str(PG_BIN), "HOME": str(self.home)}

    def initdb(self, *conf_lines: str) -> PgCluster:
        self.sockets.mkdir(exist_ok=True)
        give_to_postgres(self.sockets)
        run([str(PG_BIN / "initdb"), "-D", str(self.data), "-U", "postgres", "--auth=trust", "-E", "UTF8",
             "--locale=C.UTF-8", "--no-sync"])
        base = [f"port = {self.port}", "listen_addresses = '127.0.0.1'", f"unix_socket_directories = '{self.sockets}'",
                "shared_buffers = 32MB", "max_connections = 60"]
        conf = self.data / "postgresql.conf"
        with conf.open("a") as f:
            f.write("\n".join([*base, *conf_lines]) + "\n")
        return self

    def start(self) -> PgCluster:
        """postgres in a session of its own: `destroy` kills the postmaster and every backend at once."""
        log = (self.home / f"{self.data.name}.log").open("ab")
        self.proc = subprocess.Popen([str(PG_BIN / "postgres"), "-D", str(self.data)], stdout=log, stderr=log,
                                     start_new_session=True, cwd="/", **as_postgres())
        log.close()
        wait_ready(self.url)
        return self

    def destroy(self) -> None:
        """Lose the server: SIGKILL to all its processes, then its data folder removed."""
        if self.proc is not None and self.proc.poll() is None:
            os.killpg(self.proc.pid, signal.SIGKILL)
            self.proc.wait(10)
        shutil.rmtree(self.data)

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(self.proc.pid, signal.SIGKILL)
            self.proc.wait(10)


def wait_ready(url: str, timeout_s: float = 60) -> None:
    deadline = time.monotonic() + timeout_s
    while True:
        try:
            with psycopg.connect(url, connect_timeout=1) as c:
                c.execute("SELECT 1")
            return
        except psycopg.OperationalError:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.1)


def stop_data_dir(data: Path) -> None:
    """Stop a server started by pg_ctl (restore.sh) on `data`, at once; nothing if none runs."""
    if (data / "postmaster.pid").exists():
        subprocess.run([str(PG_BIN / "pg_ctl"), "-D", str(data), "-m", "immediate", "-w", "stop"],
                       capture_output=True, timeout=60, cwd="/", **as_postgres())
