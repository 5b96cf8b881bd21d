"""Load test of the API on loopback: customers, technicians and dispatchers in realistic proportions.

    python -m bench.load [--rate 100] [--seconds 60] [--technicians 2000] [--workers 2]

Starts the API (`uvicorn tyrehero_app.api.standalone:app`, the same code the app mounts, with its
dispatch sweep) on a free loopback port against a fresh migrated database (DATABASE_URL /
REDIS_URL when set, else embedded servers in a temporary folder), with rate limits off, and
drives it with Locust, headless, in its own process (`bench/locustfile.py`, FastHttpUser):

- customers submit `--rate` requests/s, each with a new phone number and a point drawn by
  population; tracking pages poll recent requests at half that rate;
- every technician (`--technicians`, all on shift) sends a position every `--ping-every` s; when
  the answer names a job and the phone is free, it reads the job; a job offered is worked as the phone app does it
  (accept, en route, arrived, complete, through the technician API) over `--job-seconds` s: by
  default 40-90 minutes from offer to completion as on the road, so in a minute's run the vans
  accept and set off; `--job-seconds 20,40` turns the whole fleet over twice a minute, a stress
  far beyond any real night (`--no-jobs`: pings only);
- `--consoles` dispatcher consoles poll live.geojson every 1.5 s and hexes.geojson every 5 s.

Every user keeps a constant pace from a random phase. After the run it prints throughput and
p50/p95/p99 per endpoint, errors, where the CPU went, and counts accepted (201s the driver saw)
against stored (rows in PostgreSQL). Bounded: Locust stops after `--seconds`, in-flight calls get
`--timeout` s, and the whole command gives up after `--hard-timeout` s.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import random
import secrets
import signal
import subprocess
import sys
import tempfile
import time
from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

import httpx
import sqlalchemy as sa

from bench.machine import yardstick_s
from core.bootstrap import bootstrap
from core.config import Settings
from core.context import Core
from core.demo import seed_if_empty
from core.geo.geocode import OfflineGeocoder
from core.geo.places import random_point_near, uk_places
from core.tokens import token_hash
from tests.support.databases import scratch_servers
from tests.support.redis_server import free_port

ROOT = Path(__file__).resolve().parent.parent
POST_REQUEST = "POST /api/v1/requests"
NAME_PREFIX = "Load"
TICK = os.sysconf("SC_CLK_TCK")
WINDOW_S = 10  # new requests' p95 is also given for each such slice of the run


@dataclass
class Endpoint:
    name: str
    calls: int
    per_s: float
    errors: int
    p50: float
    p95: float
    p99: float
    max: float


@dataclass
class LoadResult:
    endpoints: list[Endpoint]
    seconds: float
    accepted: int  # 201s the driver saw
    stored: int  # rows of this run in PostgreSQL
    accepted_not_stored: int
    stored_not_acknowledged: int
    failures: list[str] = field(default_factory=list)  # "count x endpoint: error"
    cpu: dict[str, float] = field(default_factory=dict)  # seconds of CPU per part, over the run
    statuses: dict[str, int] = field(default_factory=dict)  # stored requests by status after the run
    redis_commands: dict[str, tuple[int, int]] = field(default_factory=dict)  # command -> (calls, server µs) in the run
    # bench.machine.yardstick_s() before and after: how fast the machine was
    yardstick_s: tuple[float, float] = (0.0, 0.0)
    post_windows: list[tuple[int, int, float]] = field(default_factory=list)  # new requests: (from s, calls, p95 ms)

    @property
    def errors(self) -> int:
        return sum(e.errors for e in self.endpoints)

    def endpoint(self, name: str) -> Endpoint | None:
        return next((e for e in self.endpoints if e.name == name), None)


# --- setting up ------------------------------------------------------------------------------------


def _sessions(core: Core, size: int) -> tuple[list[list], str]:
    """Every technician on shift with a fresh position and a bearer token; a dispatcher token.

    Straight into the database: logging 2,000 technicians in through Argon2 is not what we measure.
    """
    seed_if_empty(core, size=size, quiet=True)
    disp_token = secrets.token_urlsafe(32)
    with core.engine.begin() as c:
        c.execute(sa.text("UPDATE technician SET status = 'available', position_at = now()"))
        c.execute(sa.text(
            "WITH u AS (INSERT INTO user_account (username, display_name, role, password_hash, active)"
            " SELECT 'load-tech-' || id, name, 'technician', 'x', true FROM technician WHERE user_id IS NULL"
            " RETURNING id, username)"
            " UPDATE technician t SET user_id = u.id FROM u WHERE u.username = 'load-tech-' || t.id"))
        techs = c.execute(sa.text("SELECT id, user_id, lat, lng FROM technician ORDER BY id")).all()
        rows, plan = [], []
        for tid, uid, lat, lng in techs:
            tok = secrets.token_urlsafe(32)
            rows.append({"h": token_hash(tok), "u": uid})
            plan.append([tid, tok, lat, lng])
        duid = c.execute(sa.text("SELECT id FROM user_account WHERE username = 'dispatch'")).scalar_one()
        rows.append({"h": token_hash(disp_token), "u": duid})
        c.execute(sa.text("INSERT INTO auth_session (token_hash, user_id, kind, expires_at)"
                          " VALUES (:h, :u, 'bearer', now() + interval '1 day')"), rows)
    core.index.ensure_built(force=True)
    return plan, disp_token


def _points(n: int, seed: int = 5) -> list[list[float]]:
    """Where drivers break down: towns drawn by population, spread a few km."""
    rng = random.Random(seed)
    towns = uk_places()
    weights = [max(p.population, 1) for p in towns]
    return [[round(v, 6) for v in random_point_near(rng, t.lat, t.lng, 3.0)] for t in rng.choices(towns, weights, k=n)]


@contextmanager
def _api(url: str, redis_url: str, prefix: str, workers: int, prod: bool = False,
         settings: dict[str, str] | None = None) -> Iterator[tuple[str, subprocess.Popen]]:
    port = free_port()
    env = dict(os.environ, DATABASE_URL=url, REDIS_URL=redis_url, REDIS_KEY_PREFIX=prefix, RATE_LIMITS_ENABLED="false",
               DEMO_MODE="false", LOG_JSON="true", SLOW_QUERY_MS="1000", **(settings or {}))
    cmd = [sys.executable, "-m", "uvicorn", "tyrehero_app.api.standalone:app", "--host", "127.0.0.1",
           "--port", str(port),
           "--workers", str(workers), "--log-level", "warning", "--no-access-log",
           # Longer than any user's pause, as behind a load balancer: idle pooled connections are not cut mid-reuse.
           "--timeout-keep-alive", "75"]
    if prod:  # the production shape (deploy/prod.py): nginx -> `workers` app processes -> PgBouncer -> PostgreSQL
        env.update(PORT=str(port), SEED_DEMO_DATA="false", DATA_DIR=tempfile.mkdtemp(prefix="th-load-prod-"))
        os.chmod(env["DATA_DIR"], 0o755)  # PgBouncer runs as `postgres` when we are root
        cmd = [sys.executable, "-m", "deploy.prod", "--processes", str(workers)]
    proc = subprocess.Popen(cmd, cwd=ROOT, env=env, stderr=subprocess.DEVNULL, start_new_session=True)
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + (240 if prod else 60)  # the shape builds the pages first
        while True:
            try:
                if httpx.get(f"{base}/health", timeout=2).status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            if proc.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError("the API did not start")
            time.sleep(0.2)
        yield base, proc
    finally:
        _stop(proc)


def _stop(proc: subprocess.Popen) -> None:
    if proc.poll() is None:
        os.killpg(proc.pid, signal.SIGTERM)
        try:
            proc.wait(15)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait(5)


def _warm(base: str, techs: list[list], disp_token: str, workers: int) -> None:
    """A few calls of each kind on fresh connections, so every worker has its pools and caches filled."""
    auth = {"Authorization": f"Bearer {disp_token}"}
    for i in range(4 * workers):
        r = httpx.post(f"{base}/api/v1/requests", timeout=30, json={
            "customer_name": f"Warm {i}", "phone": f"07401{i:06d}", "location": {"lat": 51.5, "lng": -0.12},
            "vehicle": "Car", "issue": "flat"})
        r.raise_for_status()
        httpx.get(f"{base}/api/v1/requests/track/{r.json()['tracking_token']}", timeout=30).raise_for_status()
        _tid, tok, lat, lng = techs[i % len(techs)]
        httpx.post(f"{base}/api/v1/technicians/me/location", timeout=30, headers={"Authorization": f"Bearer {tok}"},
                   json={"lat": lat, "lng": lng, "accuracy_m": 5,
                         "recorded_at": time.strftime("%Y-%m-%dT%H:%M:%S+00:00", time.gmtime())}).raise_for_status()
        httpx.get(f"{base}/api/v1/dispatch/live.geojson", headers=auth, timeout=30).raise_for_status()
        httpx.get(f"{base}/api/v1/dispatch/hexes.geojson", headers=auth, timeout=30).raise_for_status()


# --- CPU accounting ----------------------------------------------------------------------------------


def _procs() -> dict[int, tuple[int, str, int]]:
    """pid -> (parent pid, command name, CPU ticks so far)."""
    out = {}
    for d in os.listdir("/proc"):
        if not d.isdigit():
            continue
        try:
            raw = Path(f"/proc/{d}/stat").read_text()
        except OSError:
            continue
        comm = raw[raw.index("(") + 1 : raw.rindex(")")]
        f = raw[raw.rindex(")") + 2 :].split()
        out[int(d)] = (int(f[1]), comm, int(f[11]) + int(f[12]))
    return out


def _tree_ticks(procs: dict[int, tuple[int, str, int]], root: int) -> int:
    kids: dict[int, list[int]] = {}
    for pid, (ppid, _c, _t) in procs.items():
        kids.setdefault(ppid, []).append(pid)
    total, todo = 0, [root]
    while todo:
        pid = todo.pop()
        total += procs.get(pid, (0, "", 0))[2]
        todo += kids.get(pid, [])
    return total


def _servers_ticks(procs: dict[int, tuple[int, str, int]], name: str) -> int:
    return sum(t for _p, comm, t in procs.values() if comm.startswith(name))


def _redis_commands(core: Core) -> dict[str, tuple[int, int]]:
    """Redis's own count of calls and microseconds per command, since it started."""
    stats = core.redis.info("commandstats")
    return {k.removeprefix("cmdstat_"): (int(v["calls"]), int(v["usec"])) for k, v in stats.items()}


def _machine_busy() -> tuple[int, int]:
    f = [int(x) for x in Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:]]
    idle = f[3] + f[4]
    return sum(f) - idle, sum(f)


# --- the run -----------------------------------------------------------------------------------------


def _plan(out: Path, base: str, args: argparse.Namespace, techs: list[list], disp_token: str) -> dict:
    cust_users = max(1, round(args.rate))
    track_rate = args.rate * args.track_ratio
    track_users = max(1, round(track_rate)) if track_rate > 0 else 0
    return {
        "out_dir": str(out),
        "base": base,
        "timeout_s": args.timeout,
        "driver_processes": args.driver_processes,
        "name_prefix": NAME_PREFIX,
        "points": _points(4000),
        "customers": {"users": cust_users, "period_s": cust_users / args.rate},
        "trackers": {"users": track_users, "period_s": track_users / track_rate if track_users else 1.0},
        "technicians": techs,
        "ping_every_s": args.ping_every,
        "jobs": args.jobs,
        "job_s": _job_seconds(args.job_seconds),
        "consoles": args.consoles,
        "dispatcher_token": disp_token,
        "live_every_s": 1.5,
        "hexes_every_s": 5.0,
    }


def _job_seconds(text: str) -> list[float]:
    lo, _, hi = text.partition(",")
    return sorted([float(lo), float(hi or lo)])


def _locust(out: Path, base: str, plan: dict, seconds: float, processes: int) -> subprocess.Popen:
    counts = {"Customer": plan["customers"]["users"], "Tracker": plan["trackers"]["users"],
              "Technician": len(plan["technicians"]), "LiveLayer": plan["consoles"], "HexLayer": plan["consoles"]}
    classes = [k for k, n in counts.items() if n > 0]
    users = sum(counts.values())
    cmd = [
        sys.executable,
        "-m",
        "locust",
        "-f",
        str(ROOT / "bench" / "locustfile.py"),
        "--headless",
        "--host",
        base,
        "-u",
        str(users),
        "-r",
        str(max(users, 1)),
        "--run-time",
        f"{seconds:g}s",
        "--stop-timeout",
        f"{int(plan['timeout_s']) + 5}s",
        "--only-summary",
        "--loglevel",
        "WARNING",
        "--exit-code-on-error",
        "0",
        *classes,
    ]
    if processes > 1:
        cmd[4:4] = ["--processes", str(processes)]
    log = open(out / "locust.log", "w")  # noqa: SIM115
    return subprocess.Popen(cmd, cwd=ROOT, env=dict(os.environ, TH_LOAD_PLAN=str(out / "plan.json")),
                            stdout=log, stderr=subprocess.STDOUT, start_new_session=True)


def _py_spy(api_pid: int, folder: str, seconds: float) -> list[subprocess.Popen]:
    """Sample every API worker with py-spy (installed separately) for the run's middle, as folded stacks."""
    exe = Path(sys.executable).with_name("py-spy")
    Path(folder).mkdir(parents=True, exist_ok=True)
    procs = _procs()
    workers = [pid for pid, (ppid, _c, _t) in procs.items() if ppid == api_pid] or [api_pid]
    return [subprocess.Popen([str(exe), "record", "-p", str(pid), "-o", f"{folder}/worker-{pid}.txt", "-f", "raw",
                              "-r", "50", "-d", str(max(1, int(seconds) - 10)), "--nonblocking"],
                             stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL) for pid in workers]


def _pct(xs: list[float], p: float) -> float:
    """Nearest-rank percentile of sorted values."""
    return xs[max(0, min(len(xs) - 1, math.ceil(p / 100 * len(xs)) - 1))] if xs else math.nan


def _read_calls(out: Path, seconds: float) -> tuple[list[Endpoint], list[str], list[tuple[int, int, float]]]:
    """Per-endpoint figures from every call the driver's users made (bench/locustfile.py logs each),
    and new requests' (window start s, calls, p95 ms) for each `WINDOW_S` of the run."""
    times: dict[str, list[float]] = {}
    posts: list[tuple[float, float]] = []  # (start, ms)
    errors: Counter[tuple[str, str]] = Counter()
    for p in out.glob("calls-*.txt"):
        for line in p.read_text().splitlines():
            name, ms, start, error = line.split("\t", 3)
            times.setdefault(name, []).append(float(ms))
            if name == POST_REQUEST:
                posts.append((float(start), float(ms)))
            if error:
                errors[(name, error)] += 1
    endpoints = []
    for name, xs in sorted(times.items()):
        xs.sort()
        endpoints.append(
            Endpoint(
                name,
                len(xs),
                len(xs) / seconds,
                sum(n for (k, _e), n in errors.items() if k == name),
                _pct(xs, 50),
                _pct(xs, 95),
                _pct(xs, 99),
                xs[-1],
            )
        )
    windows: dict[int, list[float]] = {}
    first = min((t for t, _ms in posts), default=0.0)
    for t, ms in posts:
        windows.setdefault(int((t - first) // WINDOW_S), []).append(ms)
    by_window = [(k * WINDOW_S, len(xs), _pct(sorted(xs), 95)) for k, xs in sorted(windows.items())]
    return endpoints, [f"{n} x {name}: {error}" for (name, error), n in errors.most_common()], by_window


def run(args: argparse.Namespace, log=print) -> LoadResult:  # type: ignore[no-untyped-def]
    """Set up, drive the API for `args.seconds`, count, tear down."""
    prefix = f"load:{secrets.token_hex(3)}:"
    yardstick = yardstick_s()
    with scratch_servers() as (url, redis_url), tempfile.TemporaryDirectory(prefix="th-load-") as tmp:
        out = Path(tmp)
        core = bootstrap(Settings(rate_limits_enabled=False), database_url=url, redis_url=redis_url, key_prefix=prefix,
                         geocoder=OfflineGeocoder())
        try:
            techs, disp_token = _sessions(core, args.technicians)
            with _api(url, redis_url, prefix, args.workers, args.prod) as (base, api):
                _warm(base, techs, disp_token, args.workers)
                plan = _plan(out, base, args, techs, disp_token)
                (out / "plan.json").write_text(json.dumps(plan))
                jobs = (
                    f", working jobs of {args.job_seconds.replace(',', '-')} s" if args.jobs else ", not working jobs"
                )
                log(
                    f"running {args.seconds:g} s: {args.rate:g} requests/s,"
                    f" tracking {args.rate * args.track_ratio:g}/s,"
                    f" {len(techs)} technicians every {args.ping_every:g} s{jobs}, {args.consoles} consoles;"
                    f" {args.workers} API workers, {args.driver_processes} driver process(es)"
                )
                before_redis = _redis_commands(core)
                before_procs, before_busy = _procs(), _machine_busy()
                before_children = os.times()
                t0 = time.monotonic()
                driver = _locust(out, base, plan, args.seconds, args.driver_processes)
                spies = _py_spy(api.pid, args.py_spy, args.seconds) if args.py_spy else []
                try:
                    driver.wait(args.seconds + args.timeout + 30)
                except subprocess.TimeoutExpired:
                    _stop(driver)
                    raise RuntimeError("the load driver did not stop in time") from None
                wall = time.monotonic() - t0
                for spy in spies:
                    spy.wait(30)
                after_procs, after_busy = _procs(), _machine_busy()
                after_redis = _redis_commands(core)
                after_children = os.times()
                if driver.returncode != 0:
                    raise RuntimeError(
                        f"locust failed ({driver.returncode}):\n{(out / 'locust.log').read_text()[-3000:]}"
                    )
            endpoints, failures, post_windows = _read_calls(out, args.seconds)
            accepted: set[int] = set()
            for p in out.glob("accepted-*.txt"):
                accepted |= {int(x) for x in p.read_text().split()}
            with core.engine.connect() as c:
                stored = {r[0] for r in c.execute(sa.text("SELECT id FROM service_request WHERE customer_name LIKE :p"),
                                                  {"p": f"{NAME_PREFIX} %"})}
                statuses = dict(
                    c.execute(
                        sa.text(
                            "SELECT status, count(*) FROM service_request WHERE customer_name LIKE :p GROUP BY status"
                        ),
                        {"p": f"{NAME_PREFIX} %"},
                    ).all()
                )
            ticks = {
                "machine (all cores, everything)": after_busy[0] - before_busy[0],
                "API workers": _tree_ticks(after_procs, api.pid) - _tree_ticks(before_procs, api.pid),
                "PostgreSQL (all its clients)": _servers_ticks(after_procs, "postgres")
                - _servers_ticks(before_procs, "postgres"),
                "Redis (all its clients)": _servers_ticks(after_procs, "redis-server")
                - _servers_ticks(before_procs, "redis-server"),
            }
            cpu = {k: v / TICK for k, v in ticks.items()}
            cpu["load driver (Locust)"] = (after_children.children_user + after_children.children_system
                                           - before_children.children_user - before_children.children_system)
            cpu["wall"] = wall
            redis_cmds = {k: (n - before_redis.get(k, (0, 0))[0], us - before_redis.get(k, (0, 0))[1])
                          for k, (n, us) in after_redis.items()}
            return LoadResult(endpoints, args.seconds, len(accepted), len(stored), len(accepted - stored),
                              len(stored - accepted), failures, cpu, statuses,
                              {k: v for k, v in redis_cmds.items() if v[0] > 0}, (yardstick, yardstick_s()),
                              post_windows)
        finally:
            keys = list(core.redis.scan_iter(match=f"{prefix}*", count=10000))  # this run's keys only
            for i in range(0, len(keys), 5000):
                core.redis.unlink(*keys[i : i + 5000])
            core.close()


def report(r: LoadResult, args: argparse.Namespace, log=print) -> None:  # type: ignore[no-untyped-def]
    log(
        "\n| endpoint | calls | per s | errors | p50 ms | p95 ms | p99 ms | max ms |\n|---|--:|--:|--:|--:|--:|--:|--:|"
    )
    for e in r.endpoints:
        log(
            f"| {e.name} | {e.calls:,} | {e.per_s:.1f} | {e.errors} |"
            f" {e.p50:.1f} | {e.p95:.1f} | {e.p99:.1f} | {e.max:.0f} |"
        )
    total = sum(e.calls for e in r.endpoints)
    log(f"| all | {total:,} | {total / r.seconds:.1f} | {r.errors} | | | | |")
    for f in r.failures[:10]:
        log(f"  error: {f}")
    log(
        f"\naccepted (201 seen by the driver) = {r.accepted:,}; stored = {r.stored:,};"
        f" accepted but not stored = {r.accepted_not_stored}; stored but not acknowledged = {r.stored_not_acknowledged}"
    )
    log("stored requests by status after the run: " + ", ".join(f"{k} {v:,}" for k, v in sorted(r.statuses.items())))
    wall = r.cpu.get("wall", r.seconds)
    log(f"\nmachine yardstick before / after the run: {r.yardstick_s[0]} / {r.yardstick_s[1]} s"
        " (bench.machine; lower is faster)")
    log(f"CPU over the run ({wall:.0f} s wall, {os.cpu_count()} cores = {wall * (os.cpu_count() or 1):.0f} core-s):")
    for k, v in r.cpu.items():
        if k != "wall":
            log(f"  {k}: {v:.1f} core-s ({v / wall:.2f} cores)")
    top = sorted(r.redis_commands.items(), key=lambda kv: -kv[1][1])[:4]
    if top:
        log("  Redis server time by command (all its clients): " + ", ".join(
            f"{k} {n:,} calls {us / 1e6:.1f} s" for k, (n, us) in top))
    post = r.endpoint(POST_REQUEST)
    offered = args.rate * args.seconds
    if post:
        log(
            f"\nPOST /api/v1/requests: {post.calls:,} sent of {offered:,.0f} scheduled"
            f" ({post.calls / r.seconds:.1f}/s);"
            f" p95 {post.p95:.1f} ms (target <= 50: {'met' if post.p95 <= 50 else 'NOT met'})"
        )
    if r.post_windows:
        log(f"POST /api/v1/requests p95 by {WINDOW_S} s of the run: " + ", ".join(
            f"{t}-{t + WINDOW_S} s {p95:.1f} ms ({n:,})" for t, n, p95 in r.post_windows))
    log(f"errors: {r.errors} (target 0: {'met' if r.errors == 0 else 'NOT met'});"
        f" accepted == stored: {'yes' if r.accepted == r.stored and not r.accepted_not_stored else 'NO'}")


def parser() -> argparse.ArgumentParser:
    ap = argparse.ArgumentParser(prog="python -m bench.load", description=__doc__.split("\n")[0])
    ap.add_argument("--rate", type=float, default=100.0, help="new requests per second (default 100)")
    ap.add_argument("--seconds", type=float, default=60.0, help="length of the run (default 60)")
    ap.add_argument("--technicians", type=int, default=2000, help="technicians on shift, all pinging (default 2000)")
    ap.add_argument(
        "--ping-every", type=float, default=10.0, help="seconds between a technician's positions (default 10)"
    )
    ap.add_argument("--jobs", action=argparse.BooleanOptionalAction, default=True,
                    help="technicians work the jobs they are given (default on)")
    ap.add_argument("--job-seconds", default="2400,5400", metavar="LO,HI",
                    help="a job's length from offer to completion, drawn uniformly (default 2400,5400: 40-90 min)")
    ap.add_argument("--track-ratio", type=float, default=0.5, help="tracking polls per new request (default 0.5)")
    ap.add_argument("--consoles", type=int, default=2, help="dispatcher consoles polling the map layers (default 2)")
    ap.add_argument("--workers", type=int, default=2, help="uvicorn worker processes of the API (default 2)")
    ap.add_argument("--prod", action="store_true",
                    help="through the production shape: nginx, --workers app processes, PgBouncer (deploy/prod.py)")
    ap.add_argument("--driver-processes", type=int, default=1, help="Locust processes (default 1)")
    ap.add_argument("--timeout", type=float, default=10.0, help="seconds a call may take before it counts as an error")
    ap.add_argument("--py-spy", metavar="DIR", help="record the API workers with py-spy into DIR (folded stacks)")
    ap.add_argument("--hard-timeout", type=int, default=300, help="the whole command gives up after this many seconds")
    return ap


def main() -> None:
    args = parser().parse_args()

    def _expired(*_: object) -> None:
        raise TimeoutError(f"bench.load: gave up after {args.hard_timeout} s")

    signal.signal(signal.SIGALRM, _expired)
    signal.alarm(args.hard_timeout)
    result = run(args)
    signal.alarm(0)
    report(result, args)


if __name__ == "__main__":
    main()
