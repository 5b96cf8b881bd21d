"""`make run`: start (or adopt) the databases, migrate, load demo data, then serve the app.

Ctrl-C stops the app and then the embedded servers this command started; data stays in the
data folder for the next run. Settings that are invalid, or unsafe with ENVIRONMENT=production, stop it
before anything starts: every problem is printed and the exit status is 2.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
BAD_SETTINGS = 2


def load_settings():  # type: ignore[no-untyped-def]
    """The settings, or None after printing each thing wrong with them (no traceback: an operator reads this)."""
    from pydantic import ValidationError

    from core.config import describe_errors, get_settings

    try:
        return get_settings()
    except ValidationError as e:
        print("TyreHero cannot start with these settings:", file=sys.stderr)
        for line in describe_errors(e):
            print(f"  - {line}", file=sys.stderr)
        return None


def main() -> int:
    settings = load_settings()
    if settings is None:
        return BAD_SETTINGS

    from core.bootstrap import bootstrap
    from core.demo import seed_if_empty
    from core.infra import db, embedded

    owns_embedded = not (settings.database_url and settings.redis_url)
    print("Starting databases..." if owns_embedded else "Using configured databases...", flush=True)
    try:
        db_url, redis_url = embedded.ensure_urls(settings.database_url, settings.redis_url, settings.data_path)
        db.migrate(db_url)
        core = bootstrap(settings, database_url=db_url, redis_url=redis_url)
        if settings.seed_demo_data:
            seed_if_empty(core)
        core.index.ensure_built(force=True)
        core.close()
    except BaseException:
        if owns_embedded:  # never leave embedded servers running behind a failed start
            embedded.stop_embedded(settings.data_path)
        raise

    port = os.environ.get("PORT", "3000")
    env = dict(os.environ, DATABASE_URL=db_url, REDIS_URL=redis_url, REFLEX_USE_SYSTEM_BUN="1",
               REFLEX_CHECK_LATEST_VERSION="false", REFLEX_TELEMETRY_ENABLED="false")
    env["PATH"] = f"{ROOT / '.tools' / 'node_modules' / '.bin'}{os.pathsep}{env.get('PATH', '')}"
    if env.pop("REFLEX_CORS_ALLOWED_ORIGINS", None) is not None:  # one list of origins: CORS_ORIGINS (rxconfig)
        print("REFLEX_CORS_ALLOWED_ORIGINS is ignored: set CORS_ORIGINS instead", file=sys.stderr, flush=True)
    cmd = [sys.executable, "-m", "reflex", "run", "--env", "prod", "--single-port",
           "--frontend-port", port, "--backend-port", port, "--loglevel", "warning"]
    print(f"TyreHero is starting on http://localhost:{port} (first start builds the pages, ~1-2 min)", flush=True)
    child = subprocess.Popen(cmd, cwd=ROOT, env=env, start_new_session=True)

    def stop(signum: int, _frame: object) -> None:
        if child.poll() is None:
            os.killpg(child.pid, signal.SIGTERM)

    signal.signal(signal.SIGINT, stop)
    signal.signal(signal.SIGTERM, stop)
    try:
        code = child.wait()
        while child.poll() is None:
            code = child.wait()
    finally:
        try:
            child.wait(timeout=15)
        except subprocess.TimeoutExpired:
            pass
        _stop_group(child.pid)
        if owns_embedded:
            print(f"Stopping embedded databases (data kept in {settings.data_path})", flush=True)
            embedded.stop_embedded(settings.data_path)
    return 0 if code in (0, -signal.SIGTERM, 143) else code


def _stop_group(pgid: int) -> None:
    """Reflex's own workers live in the child's process group: make sure none outlives us."""
    import time

    for sig in (signal.SIGTERM, signal.SIGKILL):
        try:
            os.killpg(pgid, sig)
        except ProcessLookupError:
            return
        time.sleep(2)


if __name__ == "__main__":
    raise SystemExit(main())
