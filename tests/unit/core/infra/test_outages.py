"""A database outage leaves the core as its own `Unavailable`, so pages and the API name no SQLAlchemy type."""

from __future__ import annotations

import pytest
from sqlalchemy.exc import IntegrityError, OperationalError

from core.errors import Unavailable
from core.infra.db import outages_as_unavailable, translates_outages


def _down() -> None:
    raise OperationalError("SELECT 1", {}, Exception("connection refused"))


def test_an_operational_error_comes_out_as_unavailable_with_the_cause_kept() -> None:
    with pytest.raises(Unavailable) as caught:
        translates_outages(_down)()
    assert isinstance(caught.value.__cause__, OperationalError), "the outage is kept as the cause, for the logs"


def test_other_database_errors_pass_through_unchanged() -> None:
    def clash() -> None:
        raise IntegrityError("INSERT", {}, Exception("duplicate key"))

    with pytest.raises(IntegrityError):
        translates_outages(clash)()


def test_the_wrapped_service_keeps_its_name_signature_and_answer() -> None:
    def service(core: object, who: object, n: int = 2) -> int:
        return n * 2

    wrapped = translates_outages(service)
    assert wrapped.__name__ == "service", "the staff-service signature test reads the name"
    assert wrapped(None, None, n=4) == 8


def test_the_context_manager_takes_the_message_to_show() -> None:
    with pytest.raises(Unavailable, match="call us"), outages_as_unavailable("Down: call us."):
        _down()
