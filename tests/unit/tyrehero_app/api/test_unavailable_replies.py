"""An outage is answered 503 with the phone number, `Retry-After`, and the name of the failed service."""

from __future__ import annotations

import asyncio
import json

import pytest
from sqlalchemy.exc import OperationalError
from sqlalchemy.exc import TimeoutError as PoolTimeout

from core.errors import Unavailable
from core.geo.geocode import GeocoderUnavailable
from tyrehero_app.api.errors import _handle


async def _answer(exc: Exception) -> tuple[int, dict, dict]:
    response = await _handle(None, exc)  # type: ignore[arg-type]
    return response.status_code, json.loads(response.body), dict(response.headers)


@pytest.mark.parametrize(("exc", "service"), [
    (Unavailable("We cannot take requests online right now.", service="database"), "database"),
    (GeocoderUnavailable("postcodes.io did not answer within 2 s"), "geocoder"),
    (OperationalError("SELECT 1", {}, Exception("canceling statement due to statement timeout")), "database"),
    (PoolTimeout("QueuePool limit reached"), "database"),
])
def test_an_outage_is_a_503_naming_the_service(exc: Exception, service: str) -> None:
    status, body, headers = asyncio.run(_answer(exc))
    assert status == 503, "an outage is a 503"
    assert body["service"] == service, "the body names the failed service"
    assert "call us on" in body["detail"], "the detail gives the phone number"
    assert headers["retry-after"] == "30", "the client is told when to retry"


def test_an_unavailable_without_a_service_names_none() -> None:
    _, body, _ = asyncio.run(_answer(Unavailable("Could not store the request, please try again.")))
    assert "service" not in body, "no service is named when none is known"
