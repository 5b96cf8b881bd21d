"""The cost-per-call probe (bench/percall.py) runs end to end against the real API, so it cannot rot."""

from __future__ import annotations

import pytest

from bench import percall


def test_every_endpoint_is_called_and_costs_something(server_urls: tuple[str, str],
                                                      monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("DATABASE_URL", server_urls[0])
    monkeypatch.setenv("REDIS_URL", server_urls[1])
    rows = percall.measure(calls=20, technicians=60, log=lambda _line: None)
    by_name = {r[0]: r for r in rows}
    # Every step of a job ran once per request that got a technician (raise_for_status: all 2xx).
    steps = [f"POST /api/v1/jobs/{{id}}/{a}" for a in ("accept", "en-route", "arrived", "complete")]
    assert {"POST /api/v1/requests", "GET /api/v1/requests/track/{token}", "POST /api/v1/technicians/me/location",
            "GET /api/v1/technicians/me/job", *steps} <= set(by_name)
    assert by_name["POST /api/v1/requests"][1] == 20
    assert by_name[steps[0]][1] > 0, "wanted by_name[steps[0]][1] > 0"
    assert len({by_name[s][1] for s in steps}) == 1, "wanted len({by_name[s][1] for s in steps}) == 1"
    for name, n, api_ms, _pg, _redis, wall_ms in rows:
        assert n > 0, name
        assert wall_ms > 0, name
        assert api_ms >= 0, name
