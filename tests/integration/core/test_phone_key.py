"""Rotating the phone key keeps every number readable and findable."""

from __future__ import annotations

import sqlalchemy as sa

from core.context import Core
from core.phones import PhoneVault, rotate_key
from core.requests.intake import submit_request
from core.schemas import RequestCreate
from tests.factories import request_body


def test_rotate(core: Core) -> None:
    old = core.vault
    made = [submit_request(core, RequestCreate.model_validate(request_body(phone=p)))
            for p in ("07911 100200", "07812 300400")]
    new = PhoneVault("a brand new key for phone numbers, 32+ chars")
    assert rotate_key(core.engine, old, new) == 2
    assert rotate_key(core.engine, old, new) == 0  # again: nothing left to do
    with core.engine.connect() as c:
        rows = dict(c.execute(sa.text("SELECT id, phone_enc FROM service_request")).all())
        hashes = {r[0] for r in c.execute(sa.text("SELECT phone_hash FROM service_request"))}
    assert new.decrypt(rows[made[0].id]) == "+447911100200"
    assert new.lookup_hash("+447812300400") in hashes
