"""Small factories with random values for tests."""

from __future__ import annotations

import random
import secrets
from typing import Any

import h3

from core.context import Core
from core.infra.db import session_scope
from core.models import Technician, utcnow
from core.principal import Principal, Role


def random_mobile(rng: random.Random | None = None) -> str:
    """A random number in UK mobile ranges that phonenumbers accepts."""
    import phonenumbers

    rng = rng or random.Random()
    while True:
        number = f"07{rng.choice(['911', '812', '400', '723', '956'])} {rng.randint(100000, 999999)}"
        if phonenumbers.is_valid_number(phonenumbers.parse(number, "GB")):
            return number


def request_body(**over: Any) -> dict[str, Any]:
    body: dict[str, Any] = {
        "customer_name": f"Driver {secrets.token_hex(2)}",
        "phone": random_mobile(),
        "location": {"lat": 51.4545 + random.uniform(-0.05, 0.05), "lng": -0.9781 + random.uniform(-0.05, 0.05)},
        "vehicle": "Ford Focus",
        "issue": "puncture",
    }
    body.update(over)
    return body


def add_technicians(
    core: Core, n: int, around: tuple[float, float] = (51.4545, -0.9781), spread: float = 0.1,
    status: str = "available", capabilities: list[str] | None = None, seed: int | None = None,
    name: str | None = None,
) -> list[int]:
    """Insert on-shift technicians near a point and place them in the index."""
    rng = random.Random(seed)
    now = utcnow()
    rows = []
    for i in range(n):
        lat, lng = around[0] + rng.uniform(-spread, spread), around[1] + rng.uniform(-spread, spread)
        cell = h3.latlng_to_cell(lat, lng, core.settings.h3_resolution)
        rows.append(
            Technician(
                name=name or f"Tech{i} Test",
                van_reg=f"TT{i:02d} ABC",
                van_label="Test van",
                capabilities=capabilities or [],
                status=status,
                lat=lat,
                lng=lng,
                h3_cell=cell,
                h3_parent=h3.cell_to_parent(cell, core.settings.h3_coarse_resolution),
                position_at=now,
            )
        )
    with session_scope(core.engine) as s:
        s.add_all(rows)
    core.index.ensure_built(force=True)
    return [r.id for r in rows]  # type: ignore[misc]


def add_staff(
    core: Core, username: str, role: str, password: str = "correct horse battery", tech_id: int | None = None
) -> int:
    """An account; a technician account is linked to `tech_id`."""
    from core.models import Technician
    from core.staff.auth import new_account

    with session_scope(core.engine) as s:
        user = new_account(username, username.title(), role, password)
        s.add(user)
        s.flush()
        if tech_id is not None:
            t = s.get(Technician, tech_id)
            assert t is not None
            t.user_id = user.id
            s.add(t)
        return user.id  # type: ignore[return-value]


def as_technician(tech_id: int, user_id: int | None = None) -> Principal:
    """The technician `tech_id` acting on their own jobs (the core's check needs no account row)."""
    return Principal(user_id, f"tech{tech_id}", f"Tech {tech_id}", Role.TECHNICIAN, tech_id)


def add_principal(core: Core, role: Role, username: str | None = None, tech_id: int | None = None) -> Principal:
    """A real account of `role` (a technician's linked to `tech_id`), as the principal its session would give."""
    username = username or f"{role}-{secrets.token_hex(3)}"
    user_id = add_staff(core, username, role, tech_id=tech_id)
    return Principal(user_id, username, username.title(), role, tech_id if role == Role.TECHNICIAN else None)


def bearer(base_url: str, username: str, password: str = "correct horse battery") -> dict[str, str]:
    import httpx

    r = httpx.post(f"{base_url}/api/v1/auth/token", json={"username": username, "password": password})
    assert r.status_code == 200, r.text
    return {"Authorization": f"Bearer {r.json()['access_token']}"}
