""""About 5 minutes away" is written once per job, when an en-route van comes close, whoever hears the pings."""

from __future__ import annotations

import threading
from datetime import timedelta

import sqlalchemy as sa

from core.context import Core
from core.models import utcnow
from core.notify.arriving import note_position
from core.technicians.jobs import PositionIn, job_action, record_positions
from tests.factories import add_technicians, as_technician
from tests.integration.notify.conftest import submit


def _arriving(core: Core, rid: int) -> int:
    with core.engine.connect() as c:
        return int(c.execute(sa.text("SELECT count(*) FROM request_event WHERE request_id = :r AND kind = 'arriving'"),
                             {"r": rid}).scalar_one())


def _en_route(core: Core) -> tuple[int, int]:
    (tid,) = add_technicians(core, 1, seed=11, spread=0.3)
    rid, _ = submit(core, location={"lat": 51.4545, "lng": -0.9781})
    job_action(core, as_technician(tid), rid, "en-route")
    return rid, tid


def test_arriving_waits_until_the_van_is_close(core: Core) -> None:
    rid, tid = _en_route(core)
    record_positions(core, tid, [PositionIn(51.9, -0.9, utcnow())])
    assert _arriving(core, rid) == 0, "50 km out is not arriving"
    record_positions(core, tid, [PositionIn(51.4546, -0.9782, utcnow() + timedelta(seconds=1))])
    assert _arriving(core, rid) == 1, "beside the customer is"


def test_arriving_is_written_once_even_when_pings_race(core: Core) -> None:
    rid, tid = _en_route(core)
    results: list[bool] = []
    threads = [threading.Thread(target=lambda: results.append(
        note_position(core, tid, rid, 51.4546, -0.9782, utcnow()))) for _ in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(10)
    assert results.count(True) == 1, f"writers that won: {results}, wanted exactly one"
    assert _arriving(core, rid) == 1, "one arriving entry on the timeline"


def test_a_van_not_yet_en_route_is_never_arriving(core: Core) -> None:
    (tid,) = add_technicians(core, 1, seed=12)
    rid, _ = submit(core, location={"lat": 51.4545, "lng": -0.9781})
    assert note_position(core, tid, rid, 51.4545, -0.9781, utcnow()) is False, "an offered job is not en route"
    assert _arriving(core, rid) == 0, "no arriving entry before en route"
