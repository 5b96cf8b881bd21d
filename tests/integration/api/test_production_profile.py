"""`ENVIRONMENT=production` cannot be started unsafely, and demo logins never exist in production."""

from __future__ import annotations

import os
import secrets
import subprocess
import sys
from pathlib import Path

import sqlalchemy as sa

from core.config import Settings
from core.context import Core
from core.demo import DEMO_LOGINS, seed_if_empty
from core.vapid import new_private_key

ROOT = Path(__file__).resolve().parents[3]
SAFE = {"SECRET_KEY": secrets.token_hex(32), "PHONE_KEY": secrets.token_hex(32), "DEMO_MODE": "false",
        "SEED_DEMO_DATA": "false", "METRICS_TOKEN": secrets.token_hex(32),
        "NOTIFY_PROVIDER": "twilio", "TWILIO_ACCOUNT_SID": "AC" + secrets.token_hex(16),
        "TWILIO_AUTH_TOKEN": secrets.token_hex(16), "TWILIO_FROM": "+447700900123", "PUBLIC_BASE_URL": "https://tyrehero.example",
        "VAPID_PRIVATE_KEY": new_private_key()}


def serve(tmp_path: Path, **env: str) -> subprocess.CompletedProcess[str]:
    """`make run` with only these variables (a fresh environment, no .env file in its folder)."""
    fresh = {"PATH": os.environ["PATH"], "HOME": str(tmp_path), "PYTHONPATH": str(ROOT), **env}
    return subprocess.run([sys.executable, "-m", "tyrehero_app.serve"], cwd=tmp_path, env=fresh, capture_output=True,
                          text=True, timeout=120)


def test_production_without_settings_exits_naming_each_problem(tmp_path: Path) -> None:
    run = serve(tmp_path, ENVIRONMENT="production", DATA_DIR=str(tmp_path / "data"))
    assert run.returncode == 2
    for name in ("SECRET_KEY", "PHONE_KEY", "DEMO_MODE", "SEED_DEMO_DATA", "METRICS_TOKEN", "NOTIFY_PROVIDER",
                 "VAPID_PRIVATE_KEY"):
        assert f"  - {name} must" in run.stderr, (name, run.stderr)
    assert "Traceback" not in run.stderr + run.stdout
    assert not (tmp_path / "data").exists()  # refused before any database was started


def test_production_names_only_what_is_still_wrong(tmp_path: Path) -> None:
    run = serve(tmp_path, ENVIRONMENT="production", **{**SAFE, "DEMO_MODE": "true"})
    assert run.returncode == 2
    problems = [line for line in run.stderr.splitlines() if line.startswith("  - ")]
    assert len(problems) == 1, "wanted len(problems) == 1"
    assert problems[0].startswith("  - DEMO_MODE must be false"), (
        "wanted problems[0].startswith('  - DEMO_MODE must be false')"
    )


def test_a_malformed_setting_is_named_without_a_traceback(tmp_path: Path) -> None:
    run = serve(tmp_path, TRUSTED_PROXIES="10.0.0.0/8, my-proxy")
    assert run.returncode == 2
    assert "TRUSTED_PROXIES: 'my-proxy' is not an IP address" in run.stderr, (
        "'TRUSTED_PROXIES: 'my-proxy' is not an IP address' missing from run.stderr"
    )
    assert "Traceback" not in run.stderr, "'Traceback' should not be in run.stderr"


def _counts(core: Core) -> tuple[int, int]:
    with core.engine.connect() as c:
        users = c.execute(sa.text("SELECT count(*) FROM user_account")).scalar_one()
        techs = c.execute(sa.text("SELECT count(*) FROM technician")).scalar_one()
    return users, techs


def test_demo_logins_are_never_created_in_production_even_when_asked(core: Core) -> None:
    core.settings = Settings(environment="production", rate_limits_enabled=False,
                             **{k.lower(): v for k, v in SAFE.items()})
    assert seed_if_empty(core, size=5, quiet=True) is False
    assert _counts(core) == (0, 0)


def test_development_still_seeds_the_demo(core: Core) -> None:
    assert seed_if_empty(core, size=5, quiet=True) is True
    with core.engine.connect() as c:
        names = set(c.execute(sa.text("SELECT username FROM user_account")).scalars())
    assert names == {username for username, *_ in DEMO_LOGINS}
    assert _counts(core) == (3, 5)
