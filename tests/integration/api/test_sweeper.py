"""The app's dispatch sweeper: technicians freed together share one sweep, run off their calls."""

from __future__ import annotations

import asyncio
import threading
import time

import sqlalchemy as sa

from core.context import Core
from core.requests.intake import submit_request
from core.schemas import RequestCreate
from core.technicians.jobs import job_action
from tests.factories import add_technicians, as_technician, request_body
from tyrehero_app import lifespan
from tyrehero_app.runtime import set_core


def _status(core: Core, ids: list[int]) -> dict[int, tuple[str, int | None]]:
    with core.engine.connect() as c:
        rows = c.execute(
            sa.text("SELECT id, status, technician_id FROM service_request WHERE id = ANY(:ids)"), {"ids": ids}
        )
        return {r.id: (r.status, r.technician_id) for r in rows}


def test_freed_technicians_share_one_sweep_run_by_the_sweeper(core: Core) -> None:
    core.settings.dispatch_coalesce_s = 1.0
    core.settings.dispatch_sweep_s = 60.0  # only a release can wake it within the test
    techs = add_technicians(core, 3, seed=5)
    jobs = [submit_request(core, RequestCreate.model_validate(request_body())).id for _ in range(3)]
    waiting = [submit_request(core, RequestCreate.model_validate(request_body())).id for _ in range(3)]
    assert {s for s, _ in _status(core, waiting).values()} == {"pending"}
    set_core(core)
    loop = asyncio.new_event_loop()
    task = loop.create_task(lifespan.dispatch_sweeper())
    runner = threading.Thread(target=loop.run_forever, daemon=True)
    runner.start()
    try:
        deadline = time.time() + 20
        while core.sweep_soon is None and time.time() < deadline:
            time.sleep(0.05)
        assert core.sweep_soon is not None, "the sweeper did not start"
        time.sleep(0.3)  # its first sweep (nothing to place: every van is busy) has run
        owner = {rid: tid for rid, (_, tid) in _status(core, jobs).items()}
        assert sorted(owner.values()) == sorted(techs)
        t0 = time.perf_counter()
        for rid in jobs:
            for step in ("accept", "en-route", "arrived", "complete"):
                job_action(core, as_technician(owner[rid]), rid, step)
        spent = time.perf_counter() - t0
        # The completions returned without sweeping: the waiting requests are still pending...
        assert {s for s, _ in _status(core, waiting).values()} == {"pending"}, spent
        # ...and one sweep, soon after, gives each a freed van.
        deadline = time.time() + 10
        while time.time() < deadline and any(s != "assigned" for s, _ in _status(core, waiting).values()):
            time.sleep(0.1)
        got = _status(core, waiting)
        assert {s for s, _ in got.values()} == {"assigned"}
        assert sorted(t for _, t in got.values()) == sorted(techs)
    finally:
        loop.call_soon_threadsafe(task.cancel)
        time.sleep(0.2)
        loop.call_soon_threadsafe(loop.stop)
        runner.join(5)
        set_core(None)
    assert core.sweep_soon is None  # a stopped sweeper no longer takes releases
