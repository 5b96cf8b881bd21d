"""The staff's Messages list: newest first, tokens masked, and only for admins and dispatchers."""

from __future__ import annotations

import pytest

from core.context import Core
from core.errors import Forbidden
from core.notify.outbox import recent_messages
from core.notify.providers import LogProvider
from core.notify.relay import Relay
from core.principal import Principal, Role
from tests.integration.notify.conftest import drain, submit

ADMIN = Principal(1, "admin", "Admin", Role.ADMIN, None)


def test_the_list_shows_sent_texts_newest_first_with_the_token_masked(core: Core) -> None:
    first, _ = submit(core)
    second, _ = submit(core)
    drain(Relay(core, LogProvider()))
    lines = recent_messages(core, ADMIN)
    assert [line.template for line in lines] == ["received", "received"]
    assert lines[0].id > lines[1].id, "newest first"
    assert all(line.status == "delivered" for line in lines), lines
    assert all("/track/" in line.preview and "****" in line.preview for line in lines), lines
    assert [line.template for line in recent_messages(core, ADMIN, request_id=first)] == ["received"]


@pytest.mark.parametrize("role", [Role.TECHNICIAN, Role.SYSTEM])
def test_nobody_else_reads_the_list(core: Core, role: Role) -> None:
    with pytest.raises(Forbidden):
        recent_messages(core, Principal(2, "x", "X", role, None))
