"""The shipped on-call rules: promtool checks and unit-tests them, amtool checks the Alertmanager example,
and every metric the rules read is one the app's /metrics really exports."""

from __future__ import annotations

import re
import shutil
import subprocess
from pathlib import Path

import httpx
import pytest
import sqlalchemy as sa

from core.context import Core
from core.technicians.jobs import job_action
from tests.factories import add_technicians, as_technician, request_body

DEPLOY = Path(__file__).resolve().parents[3] / "deploy" / "prometheus"


def _tool(name: str) -> str:
    path = shutil.which(name)
    if path is None:
        pytest.fail(f"{name} not found: run `make promtool` (Debian's prometheus and prometheus-alertmanager)")
    return path


def _run(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(args, cwd=DEPLOY, capture_output=True, text=True, timeout=60)


def test_promtool_checks_the_rules() -> None:
    done = _run(_tool("promtool"), "check", "rules", "alerts.yml")
    assert done.returncode == 0, done.stdout + done.stderr
    assert "SUCCESS: 9 rules found" in done.stdout, done.stdout


def test_promtool_unit_tests_of_the_rules_pass() -> None:
    done = _run(_tool("promtool"), "test", "rules", "alerts_test.yml")
    assert done.returncode == 0, done.stdout + done.stderr


def test_every_rule_has_a_promtool_test() -> None:
    rules = set(re.findall(r"- alert: (\w+)", (DEPLOY / "alerts.yml").read_text()))
    tested = set(re.findall(r"alertname: (\w+)", (DEPLOY / "alerts_test.yml").read_text()))
    assert rules - tested == set(), "rules without a test"


def test_amtool_checks_the_alertmanager_example_and_pages_go_on_call() -> None:
    done = _run(_tool("amtool"), "check-config", "alertmanager.yml")
    assert done.returncode == 0, done.stdout + done.stderr
    for labels, receiver in ((["severity=page", "alertname=TyreHeroBacklog"], "on-call"),
                             (["severity=ticket", "alertname=TyreHeroInstanceDown"], "team")):
        routed = _run(_tool("amtool"), "config", "routes", "test", "--config.file=alertmanager.yml", *labels)
        assert routed.stdout.strip() == receiver, (labels, routed.stdout, routed.stderr)


def test_every_metric_the_rules_read_is_exported(core: Core, api_server) -> None:
    # One van on site (a fresh response time, a van on a job), one request waiting with nobody free near it.
    (tid,) = add_technicians(core, 1, seed=3, spread=0.01)
    r = httpx.post(f"{api_server.url}/api/v1/requests", json=request_body(location={"lat": 51.4545, "lng": -0.9781}))
    assert r.status_code == 201, r.text
    for step in ("accept", "en-route", "arrived"):
        job_action(core, as_technician(tid), r.json()["id"], step)
    waiting = httpx.post(f"{api_server.url}/api/v1/requests", json=request_body(location={"lat": 51.46, "lng": -0.97}))
    assert waiting.json()["status"] == "pending", waiting.text
    text = httpx.get(f"{api_server.url}/metrics").text
    read = set(re.findall(r"\b(tyrehero_\w+)", (DEPLOY / "alerts.yml").read_text()))
    exported = {m.split("{")[0].split(" ")[0] for m in text.splitlines() if m.startswith("tyrehero_")}
    assert read <= exported, f"the rules read metrics /metrics does not export: {sorted(read - exported)}"
    assert re.search(r'tyrehero_region_available_technicians\{region="[0-9a-f]{15}"\} 0\.0', text), \
        "the waiting request's region reports its 0 available vans"
    assert "tyrehero_database_up 1.0" in text, "the database is up"
    left = float(re.search(r"^tyrehero_sla_least_remaining_seconds (\S+)", text, re.M).group(1))  # type: ignore[union-attr]
    assert 5300 < left <= 5400, f"a request just made has about 90 minutes left, got {left}"


def test_the_database_gauge_reads_zero_when_postgres_cannot_be_reached(core: Core) -> None:
    from prometheus_client import CollectorRegistry, generate_latest

    from core.infra.metrics import StateCollector

    dead = sa.create_engine("postgresql+psycopg://nobody@127.0.0.1:1/none", connect_args={"connect_timeout": 2})
    registry = CollectorRegistry()
    registry.register(StateCollector(dead, 90, core.index))
    text = generate_latest(registry).decode()
    dead.dispose()
    assert "tyrehero_database_up 0.0" in text, text
