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
    assert [line.template for line in lines] == ["received", "received"], "one received text per request"
    assert lines[0].id > lines[1].id, "newest first"
    assert all(line.status == "delivered" for line in lines), f"statuses: {[line.status for line in lines]}"
    assert all("/track/" in line.preview for line in lines), "the preview shows the link"
    assert all("****" in line.preview for line in lines), "the preview masks the link's token"
    only_first = recent_messages(core, ADMIN, request_id=first)
    assert [line.template for line in only_first] == ["received"], "one request's list holds its texts only"


@pytest.mark.parametrize("role", [Role.TECHNICIAN, Role.SYSTEM])
def test_nobody_else_reads_the_list(core: Core, role: Role) -> None:
    with pytest.raises(Forbidden):  # technicians and the system see no one's texts
        recent_messages(core, Principal(2, "x", "X", role, None))


def test_a_technicians_number_is_re_encrypted_when_the_phone_key_rotates(core: Core) -> None:
    import sqlalchemy as sa

    from core.phones import PhoneVault, rotate_key
    from tests.factories import add_technicians

    (tid,) = add_technicians(core, 1, seed=1)
    old, new = core.vault, PhoneVault("a-new-phone-key-" + "x" * 32)
    with core.engine.begin() as c:
        c.execute(sa.text("UPDATE technician SET phone_enc = :p WHERE id = :t"),
                  {"p": old.encrypt("+447911123456"), "t": tid})
    rotate_key(core.engine, old, new)
    with core.engine.connect() as c:
        enc = c.execute(sa.text("SELECT phone_enc FROM technician WHERE id = :t"), {"t": tid}).scalar_one()
    assert new.decrypt(enc) == "+447911123456", "the technician's number reads under the new key"
