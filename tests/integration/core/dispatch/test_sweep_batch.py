"""Batch sweep on the real database and index: everyone served, nobody twice, kit respected."""

from __future__ import annotations

import concurrent.futures as cf
import time

import pytest
import sqlalchemy as sa

from core.context import Core
from core.dispatch.auto import dispatch_request, sweep_batch, sweep_pending
from core.requests.intake import submit_request
from core.schemas import RequestCreate
from tests.factories import add_technicians, request_body

READING = (51.4545, -0.9781)


def _rows(core: Core, sql: str) -> list:
    with core.engine.connect() as c:
        return list(c.execute(sa.text(sql)))


def _wait(core: Core, n: int, **over) -> list[int]:
    """n requests submitted while no van is free, so they stay pending."""
    return [submit_request(core, RequestCreate.model_validate(request_body(**over))).id for _ in range(n)]


def _assignments(core: Core) -> dict[int, int]:
    return dict(_rows(core, "SELECT id, technician_id FROM service_request WHERE status = 'assigned'"))


def _assert_one_job_per_van(core: Core) -> None:
    assert _rows(core, """SELECT technician_id FROM service_request WHERE status IN ('assigned','en_route','on_site')
                          GROUP BY technician_id HAVING count(*) > 1""") == []
    assert _rows(core, """SELECT r.id FROM service_request r JOIN technician t ON t.id = r.technician_id
                          WHERE r.status = 'assigned' AND t.status <> 'assigned'""") == []


def test_assigns_everyone_once_and_respects_capabilities(core: Core) -> None:
    plain = _wait(core, 4)
    vans = _wait(core, 2, vehicle_type="van")
    van_techs = set(add_technicians(core, 3, capabilities=["van"], seed=1))
    add_technicians(core, 5, seed=2)  # no van kit
    assert sweep_batch(core) == 6
    got = _assignments(core)
    assert set(got) == set(plain) | set(vans)
    assert len(set(got.values())) == 6
    assert {got[r] for r in vans} <= van_techs
    _assert_one_job_per_van(core)
    assert sweep_batch(core) == 0  # nothing left to do


@pytest.mark.parametrize("policy", ["greedy", "batch"])
def test_the_sweep_follows_the_policy_setting(core: Core, policy: str) -> None:
    # A (older) at x=0 and B at x=6 km on one line; van 1 at x=5, van 2 at x=-6.
    # Greedy gives A van 1 (5 km) and B van 2 (12 km); the batch gives A van 2 and B van 1: 7 km in all.
    core.settings.dispatch_policy = policy  # type: ignore[assignment]
    lat, lng = READING
    km = 1 / (111.32 * 0.6237)  # degrees of longitude per km at this latitude
    a = _wait(core, 1, location={"lat": lat, "lng": lng})[0]
    time.sleep(0.01)
    b = _wait(core, 1, location={"lat": lat, "lng": lng + 6 * km})[0]
    (van1,) = add_technicians(core, 1, around=(lat, lng + 5 * km), spread=1e-6, seed=3)
    (van2,) = add_technicians(core, 1, around=(lat, lng - 6 * km), spread=1e-6, seed=4)
    assert sweep_pending(core) == 2
    assert _assignments(core) == ({a: van2, b: van1} if policy == "batch" else {a: van1, b: van2})


def test_more_requests_than_vans(core: Core) -> None:
    _wait(core, 6)
    add_technicians(core, 3, seed=6)
    assert sweep_batch(core) == 3
    _assert_one_job_per_van(core)
    assert _rows(core, "SELECT count(*) FROM service_request WHERE status = 'pending'")[0][0] == 3


def test_concurrent_sweeps_and_dispatches_never_double_assign(core: Core) -> None:
    ids = _wait(core, 30)
    add_technicians(core, 12, seed=7)
    with cf.ThreadPoolExecutor(8) as ex:
        jobs = [ex.submit(sweep_batch, core) for _ in range(4)]
        jobs += [ex.submit(dispatch_request, core, rid) for rid in ids[::3]]
        [j.result() for j in jobs]
    _assert_one_job_per_van(core)
    # A lost claim leaves its request pending; the next sweep hands out any van still free.
    sweep_batch(core)
    _assert_one_job_per_van(core)
    assert len(_assignments(core)) == 12


def test_works_on_the_postgresql_fallback(core: Core) -> None:
    _wait(core, 3)
    add_technicians(core, 3, seed=8)
    core.index.mark_down(60)  # Redis counted as out: PostgreSQL answers
    assert sweep_batch(core) == 3
    assert core.index.fallbacks > 0
    _assert_one_job_per_van(core)


@pytest.mark.parametrize("policy", ["greedy", "batch"])
def test_with_every_van_busy_a_sweep_looks_nobody_up_and_a_freed_van_is_used(
        core: Core, policy: str, monkeypatch: pytest.MonkeyPatch) -> None:
    core.settings.dispatch_policy = policy  # type: ignore[assignment]
    add_technicians(core, 3, status="en_route", seed=4)  # on shift, every one working
    waiting = _wait(core, 5)
    lookups: list[tuple] = []
    real = core.index.nearest
    monkeypatch.setattr(core.index, "nearest", lambda *a, **k: lookups.append(a) or real(*a, **k))
    assert sweep_pending(core) == 0
    assert lookups == []  # a surge's queue is not searched again on every sweep while nobody can take it
    freed = add_technicians(core, 1, seed=5)[0]
    assert sweep_pending(core) == 1
    assert lookups
    got = _assignments(core)
    assert list(got.values()) == [freed], "wanted list(got.values()) == [freed]"
    assert set(got) <= set(waiting), "wanted set(got) <= set(waiting)"
    _assert_one_job_per_van(core)
