"""Property-based run of the app's own OpenAPI description against the live API over HTTP:
no 5xx, and every response matches the schema."""

from __future__ import annotations

import pytest
import schemathesis
from hypothesis import HealthCheck, settings
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import content_type_conformance, response_schema_conformance

from tests.factories import add_staff, add_technicians, bearer
from tyrehero_app.api.app import create_api

schema = schemathesis.openapi.from_dict(create_api().openapi())


@pytest.fixture
def staff_headers(core, api_server) -> dict[str, str]:  # type: ignore[no-untyped-def]
    add_technicians(core, 5, seed=12)
    add_staff(core, "fuzz", "dispatcher")
    return bearer(api_server.url, "fuzz")  # reaches the staff endpoints too (403/404 are fine)


@schema.parametrize()
@settings(max_examples=12, deadline=None, suppress_health_check=list(HealthCheck))
def test_api(case, api_server, staff_headers) -> None:  # type: ignore[no-untyped-def]
    if case.path == "/api/v1/auth/logout":
        return  # would revoke the token the rest of the run uses
    case.call_and_validate(base_url=api_server.url, headers=staff_headers,
                           checks=[not_a_server_error, response_schema_conformance, content_type_conformance])
