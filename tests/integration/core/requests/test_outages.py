"""A database outage leaves the request services as the core's own `Unavailable`: callers name no SQLAlchemy type."""

from __future__ import annotations

import pytest

from core.context import Core
from core.errors import Unavailable
from core.requests.intake import submit_request
from core.requests.tracking import track
from core.schemas import RequestCreate
from tests.factories import request_body


def test_tracking_with_the_database_unreachable_is_unavailable(core: Core, down: Core) -> None:
    token = submit_request(core, RequestCreate.model_validate(request_body())).tracking_token
    with pytest.raises(Unavailable):
        track(down, token)


def test_a_request_submitted_with_the_database_unreachable_is_unavailable(down: Core) -> None:
    with pytest.raises(Unavailable):
        submit_request(down, RequestCreate.model_validate(request_body()))
