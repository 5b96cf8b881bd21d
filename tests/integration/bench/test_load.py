"""The load driver (bench/load.py) runs end to end: real API over HTTP, real PostgreSQL and Redis.

A few seconds at a low rate, so the driver cannot rot: every kind of call is made (technicians work
their jobs through to completion), none fails, and every request the driver saw accepted is stored
(and nothing else is).
"""

from __future__ import annotations

import pytest

from bench import load


def test_short_load_run_has_no_errors_and_loses_nothing(server_urls: tuple[str, str],
                                                         monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("DATABASE_URL", server_urls[0])
    monkeypatch.setenv("REDIS_URL", server_urls[1])
    args = load.parser().parse_args(["--rate", "4", "--seconds", "6", "--technicians", "40", "--ping-every", "2",
                                     "--consoles", "1", "--workers", "1", "--timeout", "10",
                                     "--job-seconds", "1,2"])
    lines: list[str] = []
    result = load.run(args, log=lines.append)
    load.report(result, args, log=lines.append)
    print("\n".join(lines))

    called = {e.name: e.calls for e in result.endpoints}
    assert set(called) == {
        load.POST_REQUEST,
        "GET /api/v1/requests/track/{token}",
        "POST /api/v1/technicians/me/location",
        "GET /api/v1/dispatch/live.geojson",
        "GET /api/v1/dispatch/hexes.geojson",
        "GET /api/v1/technicians/me/job",
        *(f"POST /api/v1/jobs/{{id}}/{step}" for step in ("accept", "en-route", "arrived", "complete")),
    }, called
    assert all(n > 0 for n in called.values()), called
    assert result.errors == 0, result.failures
    assert called[load.POST_REQUEST] >= 10  # about 4/s for 6 s
    assert result.accepted == called[load.POST_REQUEST] == result.stored
    assert result.accepted_not_stored == 0, f"result.accepted_not_stored is {result.accepted_not_stored!r}, wanted 0"
    assert result.stored_not_acknowledged == 0, (
        f"result.stored_not_acknowledged is {result.stored_not_acknowledged!r}, wanted 0"
    )
    assert result.statuses.get("completed", 0) > 0, result.statuses  # the fleet turns over
    before, after = result.yardstick_s
    assert before > 0, f"before is {before!r}, wanted > 0"
    assert after > 0, f"after is {after!r}, wanted > 0"
    assert any(f"before / after the run: {before} / {after} s" in x for x in lines), (
        "wanted any(f'before / after the run: {before} / {after} s' in x for x in lines)"
    )
