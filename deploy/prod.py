"""`make prod`: the production shape on one machine.

    python -m deploy.prod [--processes 2]     serve on http://localhost:$PORT (default 3000) until Ctrl-C
    python -m deploy.prod restart             rolling restart of the running shape's app processes (SIGHUP)
    python -m deploy.prod top-statements      the statements that took the most PostgreSQL time

nginx (load balancer, gzip, WebSocket upgrade on /_event, hashed assets cached for a year) in front of
N app processes (`deploy.worker`: pages, API and lifespan tasks, Reflex state in Redis), which reach
PostgreSQL through PgBouncer in transaction pooling. DATABASE_URL / REDIS_URL when set, else the
shape's own PostgreSQL (Debian's, with pg_stat_statements) and the embedded Redis under DATA_DIR.
Generated configuration, logs and pids live in `<DATA_DIR>/prod/run`. A process that dies is started
again (as systemd's Restart=always would); a restart drains each process in nginx before stopping it.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

import httpx

from deploy import configs, postgres

if TYPE_CHECKING:
    from core.config import Settings

TRANSACTION_POOLER = "transaction"  # DATABASE_POOLER: the core turns off prepared statements and startup options

ROOT = Path(__file__).resolve().parent.parent
STATIC_DIR = ROOT / ".web" / "build" / "client"
DRAIN_S = 2.0  # after nginx stops sending to a process: its in-flight requests finish well within this
READY_S = 120.0


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
    return port


def _log(msg: str) -> None:
    print(f"[prod] {msg}", flush=True)


def app_env(base: dict[str, str] | None = None) -> dict[str, str]:
    """The environment of the Reflex tools and app processes: bun from .tools, no telemetry, no version check."""
    env = dict(os.environ if base is None else base, REFLEX_USE_SYSTEM_BUN="1", REFLEX_CHECK_LATEST_VERSION="false",
               REFLEX_TELEMETRY_ENABLED="false")
    env["PATH"] = f"{ROOT / '.tools' / 'node_modules' / '.bin'}{os.pathsep}{env.get('PATH', '')}"
    return env


def build_pages(port: int, log_file: Path) -> None:
    """Build the pages once for every process (`reflex export --frontend-only`). The build names the public port
    (the pages open their WebSocket there), so it is made for nginx's port."""
    env = app_env()
    env["PORT"] = str(port)
    env.pop("BACKEND_PORT", None)
    with open(log_file, "w") as out:
        done = subprocess.run([sys.executable, "-m", "reflex", "export", "--frontend-only", "--no-zip", "--env", "prod",
                               "--loglevel", "warning"], cwd=ROOT, env=env, stdout=out, stderr=subprocess.STDOUT,
                              timeout=600)
    if done.returncode != 0:
        raise RuntimeError(f"the page build failed; see {log_file}:\n{log_file.read_text()[-2000:]}")


@dataclass
class AppProcess:
    port: int
    proc: subprocess.Popen | None = None
    restarts: int = 0


@dataclass
class Shape:
    """Everything `make prod` runs, started and stopped in order; tests hold one to break it."""

    data_dir: Path
    port: int = 3000
    processes: int = 2
    database_url: str | None = None
    redis_url: str | None = None
    extra_env: dict[str, str] = field(default_factory=dict)
    build: bool = True
    workers_per_process: int = 1

    def __post_init__(self) -> None:
        self.run_dir = self.data_dir / "prod" / "run"
        self.pg_dir = self.data_dir / "prod" / "postgres"
        self.apps = [AppProcess(free_port()) for _ in range(self.processes)]
        self.drained: set[int] = set()
        self.bouncer_port = free_port()
        self.nginx: subprocess.Popen | None = None
        self.bouncer: subprocess.Popen | None = None
        self.direct_url = ""
        self.pooled_url = ""
        self.owns_postgres = False
        self.owns_redis = False
        self.statements = False
        self._lock = threading.RLock()
        self._stopping = threading.Event()
        self._watch: threading.Thread | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    # --- start and stop ----------------------------------------------------------------------------------------

    def start(self) -> Shape:
        self.run_dir.mkdir(parents=True, exist_ok=True)
        if os.geteuid() == 0:  # PgBouncer and PostgreSQL run as `postgres` and write their logs here
            shutil.chown(self.run_dir, "postgres", "postgres")
            if subprocess.run(["runuser", "-u", "postgres", "--", "test", "-w", str(self.run_dir)]).returncode:
                raise RuntimeError(f"the `postgres` user cannot write to {self.run_dir}: PgBouncer and PostgreSQL run "
                                   f"as `postgres` when started as root; make the folders above it traversable "
                                   f"(chmod o+x) or choose another DATA_DIR")
        try:
            self._databases()
            if self.build:
                _log("building the pages (reflex export)...")
                build_pages(self.port, self.run_dir / "build.log")
            self._start_bouncer()
            for app in self.apps:
                self._start_app(app)
            for app in self.apps:
                self._wait_ready(app)
            self._write_nginx()
            self.nginx = subprocess.Popen(["nginx", "-c", str(self.run_dir / "nginx.conf"), "-p", str(self.run_dir),
                                           "-g", "daemon off;"], stdin=subprocess.DEVNULL, start_new_session=True)
            self._wait_url(f"{self.url}/health", self.nginx)
            self._write_state()
        except BaseException:
            self.stop()
            raise
        self._watch = threading.Thread(target=self._supervise, name="prod-supervisor", daemon=True)
        self._watch.start()
        return self

    def _databases(self) -> None:
        from core.bootstrap import bootstrap
        from core.config import Settings, get_settings, sqlalchemy_url
        from core.demo import seed_if_empty
        from core.infra import db, embedded

        if self.database_url:
            self.direct_url = sqlalchemy_url(self.database_url) or ""
        else:
            _log(f"starting PostgreSQL 15 in {self.pg_dir}")
            self.direct_url = postgres.start(self.pg_dir, free_port())
            self.owns_postgres = True
        if not self.redis_url:
            self.redis_url = embedded.start_redis(self.data_dir)
            self.owns_redis = True
        self.statements = postgres.enable_statements(self.direct_url)
        db.migrate(self.direct_url)
        overrides = {k.lower(): v for k, v in self.extra_env.items() if k.lower() in Settings.model_fields}
        settings = Settings(**overrides) if overrides else get_settings()
        if settings.seed_demo_data:
            core = bootstrap(settings, database_url=self.direct_url, redis_url=self.redis_url)
            try:
                seed_if_empty(core)
                core.index.ensure_built(force=True)
            finally:
                core.close()
        upstream = configs.Upstream.from_url(self.direct_url)
        self.pooled_url = configs.pooled_url(upstream, self.bouncer_port)
        self._give_role_timeouts(settings)

    def _give_role_timeouts(self, settings: Settings) -> None:
        """PgBouncer refuses startup options, so the app's role carries the statement and idle-in-transaction
        timeouts as its defaults, in this database only."""
        import sqlalchemy as sa

        from core.infra import db

        engine = sa.create_engine(self.direct_url, isolation_level="AUTOCOMMIT")
        try:
            with engine.connect() as c:
                database = c.execute(sa.text("SELECT current_database()")).scalar_one()
                for sql in db.role_timeouts_sql(settings, database=database):
                    c.execute(sa.text(sql))
        finally:
            engine.dispose()

    def stop(self) -> None:
        """nginx, then the app processes, PgBouncer, and the servers this shape started (data stays)."""
        self._stopping.set()
        with self._lock:
            if self.nginx and self.nginx.poll() is None:
                self.nginx.send_signal(signal.SIGQUIT)  # graceful: finish requests in flight
                _wait(self.nginx, 15)
            for app in self.apps:
                self._stop_app(app)
            if self.bouncer and self.bouncer.poll() is None:
                self.bouncer.terminate()
                _wait(self.bouncer, 10)
        if self.owns_postgres:
            postgres.stop(self.pg_dir)
        if self.owns_redis:
            from core.infra import embedded

            embedded.stop_embedded(self.data_dir)
        (self.run_dir / "state.json").unlink(missing_ok=True)

    # --- pieces ------------------------------------------------------------------------------------------------

    def _start_bouncer(self) -> None:
        upstream = configs.Upstream.from_url(self.direct_url)
        ini = self.run_dir / "pgbouncer.ini"
        ini.write_text(configs.pgbouncer_ini(run_dir=self.run_dir, port=self.bouncer_port, upstream=upstream,
                                             pool_size=20))
        (self.run_dir / "pgbouncer-users.txt").write_text(configs.pgbouncer_users(upstream))
        argv = ["pgbouncer", str(ini)]
        if os.geteuid() == 0:  # PgBouncer refuses to run as root
            argv = ["pgbouncer", "-u", "postgres", str(ini)]
            (self.run_dir / "pgbouncer.log").touch()
            for name in ("pgbouncer.ini", "pgbouncer-users.txt", "pgbouncer.log"):
                shutil.chown(self.run_dir / name, "postgres", "postgres")
        self.bouncer = subprocess.Popen(argv, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                                        stderr=subprocess.DEVNULL, start_new_session=True)
        deadline = time.monotonic() + 15
        while True:
            try:
                socket.create_connection(("127.0.0.1", self.bouncer_port), timeout=1).close()
                return
            except OSError:
                if self.bouncer.poll() is not None or time.monotonic() > deadline:
                    raise RuntimeError(f"PgBouncer did not start; see {self.run_dir / 'pgbouncer.log'}") from None
                time.sleep(0.05)

    def restart_bouncer(self) -> None:
        """Stop PgBouncer at once (every pooled connection cut) and start it again on the same port."""
        with self._lock:
            if self.bouncer and self.bouncer.poll() is None:
                self.bouncer.kill()
                _wait(self.bouncer, 10)
            self._start_bouncer()

    def _app_env(self, app: AppProcess) -> dict[str, str]:
        assert self.redis_url
        env = app_env()
        env.update(self.extra_env)
        env.update(DATABASE_URL=self.pooled_url, DATABASE_POOLER=TRANSACTION_POOLER, REDIS_URL=self.redis_url,
                   REFLEX_REDIS_URL=self.redis_url, PORT=str(self.port), BACKEND_PORT=str(app.port),
                   GRANIAN_WORKERS=str(self.workers_per_process), SEED_DEMO_DATA="false",
                   # Only nginx, on this machine, may name the client: the app believes X-Forwarded-For from loopback.
                   TRUSTED_PROXIES=self.extra_env.get("TRUSTED_PROXIES", "127.0.0.1/32"))
        return env

    def _start_app(self, app: AppProcess) -> None:
        log = open(self.run_dir / f"app-{app.port}.log", "ab")  # noqa: SIM115 - the child keeps its own copy
        app.proc = subprocess.Popen([sys.executable, "-m", "deploy.worker", "--port", str(app.port)], cwd=ROOT,
                                    env=self._app_env(app), stdin=subprocess.DEVNULL, stdout=log,
                                    stderr=subprocess.STDOUT, start_new_session=True)
        log.close()

    def _wait_ready(self, app: AppProcess) -> None:
        assert app.proc
        self._wait_url(f"http://127.0.0.1:{app.port}/health", app.proc, log=self.run_dir / f"app-{app.port}.log")

    @staticmethod
    def _wait_url(url: str, proc: subprocess.Popen, log: Path | None = None) -> None:
        deadline = time.monotonic() + READY_S
        while True:
            try:
                if httpx.get(url, timeout=2).status_code == 200:
                    return
            except httpx.HTTPError:
                pass
            if proc.poll() is not None or time.monotonic() > deadline:
                tail = log.read_text(errors="replace")[-2000:] if log and log.exists() else ""
                raise RuntimeError(f"{url} did not become ready:\n{tail}")
            time.sleep(0.2)

    def _stop_app(self, app: AppProcess, timeout_s: float = 15) -> None:
        if app.proc and app.proc.poll() is None:
            os.killpg(app.proc.pid, signal.SIGTERM)
            if not _wait(app.proc, timeout_s):
                os.killpg(app.proc.pid, signal.SIGKILL)
                _wait(app.proc, 5)
        if app.proc:
            try:  # granian's workers share the process group: none may outlive it
                os.killpg(app.proc.pid, signal.SIGKILL)
            except ProcessLookupError:
                pass

    def kill_app(self, i: int) -> int:
        """SIGKILL app process `i` and its workers, as a crash would; the supervisor starts it again. Its pid."""
        app = self.apps[i]
        assert app.proc
        os.killpg(app.proc.pid, signal.SIGKILL)
        return app.proc.pid

    def _write_nginx(self) -> None:
        user = "www-data" if os.geteuid() == 0 else None
        (self.run_dir / "nginx.conf").write_text(configs.nginx_conf(
            run_dir=self.run_dir, port=self.port, app_ports=[a.port for a in self.apps], down=self.drained,
            static_dir=STATIC_DIR, user=user))

    def _reload_nginx(self) -> None:
        self._write_nginx()
        subprocess.run(["nginx", "-t", "-q", "-c", str(self.run_dir / "nginx.conf"), "-p", str(self.run_dir)],
                       check=True)
        assert self.nginx
        self.nginx.send_signal(signal.SIGHUP)
        time.sleep(0.5)  # new workers take over; old ones finish what they hold

    def rolling_restart(self, on_step: Callable[[str], None] = _log) -> None:
        """Every app process in turn: drained in nginx, stopped, started, ready, put back."""
        with self._lock:
            for app in self.apps:
                self.drained.add(app.port)
                self._reload_nginx()
                time.sleep(DRAIN_S)
                self._stop_app(app)
                self._start_app(app)
                self._wait_ready(app)
                self.drained.discard(app.port)
                self._reload_nginx()
                app.restarts += 1
                on_step(f"process on port {app.port} restarted")
            self._write_state()

    def _supervise(self) -> None:
        """Start again any app process or PgBouncer that died (Restart=always)."""
        while not self._stopping.wait(0.5):
            with self._lock:
                if self._stopping.is_set():
                    return
                for app in self.apps:
                    if app.proc and app.proc.poll() is not None:
                        _log(f"app process on port {app.port} exited ({app.proc.returncode}): starting it again")
                        self._stop_app(app)
                        self._start_app(app)
                        app.restarts += 1
                        self._write_state()
                if self.bouncer and self.bouncer.poll() is not None:
                    _log("PgBouncer exited: starting it again")
                    self._start_bouncer()

    def _write_state(self) -> None:
        state = {"supervisor": os.getpid(), "url": self.url, "database_url": self.direct_url,
                 "pooled_url": self.pooled_url,
                 "apps": [{"port": a.port, "pid": a.proc.pid if a.proc else None} for a in self.apps],
                 "pgbouncer": self.bouncer.pid if self.bouncer else None,
                 "nginx": self.nginx.pid if self.nginx else None}
        (self.run_dir / "state.json").write_text(json.dumps(state, indent=1))


def _wait(proc: subprocess.Popen, timeout_s: float) -> bool:
    try:
        proc.wait(timeout_s)
        return True
    except subprocess.TimeoutExpired:
        return False


# --- command line ----------------------------------------------------------------------------------------------


def _settings():  # type: ignore[no-untyped-def]
    from tyrehero_app.serve import load_settings

    return load_settings()


def serve(args: argparse.Namespace) -> int:
    settings = _settings()
    if settings is None:
        return 2
    port = int(os.environ.get("PORT", "3000"))
    shape = Shape(settings.data_path, port=port, processes=args.processes, database_url=settings.database_url,
                  redis_url=settings.redis_url, build=not args.no_build)
    done = threading.Event()
    restart = threading.Event()
    signal.signal(signal.SIGINT, lambda *_: done.set())
    signal.signal(signal.SIGTERM, lambda *_: done.set())
    signal.signal(signal.SIGHUP, lambda *_: restart.set())
    shape.start()
    _log(f"TyreHero is serving on http://localhost:{port}: nginx -> {args.processes} app processes "
         f"{[a.port for a in shape.apps]} -> PgBouncer :{shape.bouncer_port} -> PostgreSQL "
         f"(pg_stat_statements {'on' if shape.statements else 'off'}); config and logs in {shape.run_dir}")
    try:
        while not done.wait(0.5):
            if restart.is_set():
                restart.clear()
                shape.rolling_restart()
    finally:
        _log("stopping")
        shape.stop()
    return 0


def _running_state() -> dict | None:
    settings = _settings()
    if settings is None:
        return None
    path = settings.data_path / "prod" / "run" / "state.json"
    if not path.exists():
        print(f"no production shape is running here ({path} is absent)", file=sys.stderr)
        return None
    state: dict = json.loads(path.read_text())
    return state


def restart(_args: argparse.Namespace) -> int:
    state = _running_state()
    if state is None:
        return 1
    os.kill(state["supervisor"], signal.SIGHUP)
    print(f"rolling restart asked of the shape at {state['url']} (pid {state['supervisor']})")
    return 0


def top(args: argparse.Namespace) -> int:
    url = os.environ.get("DATABASE_URL")
    if not url:
        state = _running_state()
        if state is None:
            return 1
        url = state["database_url"]
    from core.config import sqlalchemy_url

    url = sqlalchemy_url(url) or url
    if not postgres.enable_statements(url):
        print("pg_stat_statements is not loaded by this PostgreSQL: set shared_preload_libraries = "
              "'pg_stat_statements' and restart it", file=sys.stderr)
        return 1
    print(postgres.format_top(postgres.top_statements(url, args.limit)))
    return 0


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m deploy.prod", description=__doc__.split("\n")[0])
    ap.add_argument("command", nargs="?", default="serve", choices=["serve", "restart", "top-statements"])
    ap.add_argument("--processes", type=int, default=2, help="app processes behind nginx (default 2)")
    ap.add_argument("--no-build", action="store_true", help="serve the pages already built in .web")
    ap.add_argument("--limit", type=int, default=15, help="top-statements: how many (default 15)")
    args = ap.parse_args(argv)
    if args.processes < 1:
        ap.error("--processes must be 1 or more")
    return {"serve": serve, "restart": restart, "top-statements": top}[args.command](args)


if __name__ == "__main__":
    raise SystemExit(main())
