"""Plus Code to a point: a full code, or a short one with a reference point or a town."""

from __future__ import annotations

import re
from functools import cache

from openlocationcode import openlocationcode as olc

from core.errors import DomainError
from core.geo.geocode import GeocodeResult
from core.geo.places import nearest_place, uk_places


class InvalidPlusCode(DomainError, ValueError):
    """Text that is not a usable Plus Code."""


@cache
def _towns_by_name() -> dict[str, tuple[float, float]]:
    towns: dict[str, tuple[float, float, int]] = {}
    for p in uk_places():
        key = p.name.casefold()
        # Several places share a name (Newport): the most populous is the likelier meaning.
        if key not in towns or p.population > towns[key][2]:
            towns[key] = (p.lat, p.lng, p.population)
    return {k: (lat, lng) for k, (lat, lng, _) in towns.items()}


def decode_plus_code(code: str, ref_lat: float | None = None, ref_lng: float | None = None) -> GeocodeResult:
    """A full Plus Code, or a short one with a reference point or a town ('GV4C+XV Reading')."""
    text = code.strip() if isinstance(code, str) else ""
    # Phones share "GV4C+XV Reading, UK" or "GV4C+XV, Reading": the code, then maybe a town.
    token, *rest = re.split(r"[\s,]+", text, maxsplit=1)
    token = token.upper()
    locality = rest[0] if rest else ""
    if not token or not olc.isValid(token):
        raise InvalidPlusCode(f"'{text[:30]}' is not a Plus Code — check it or share your location instead")
    if olc.isShort(token):
        if ref_lat is None or ref_lng is None:
            town = locality.split(",")[0].strip().casefold()
            ref = _towns_by_name().get(town)
            if ref is None:
                raise InvalidPlusCode(
                    f"'{text[:30]}' is a short Plus Code: add the town (like '{token} Reading') "
                    "or share your location instead"
                )
            ref_lat, ref_lng = ref
        token = olc.recoverNearest(token, ref_lat, ref_lng)
    elif not olc.isFull(token):
        raise InvalidPlusCode(f"'{text[:30]}' is not a Plus Code — check it or share your location instead")
    area = olc.decode(token)
    lat, lng = area.latitudeCenter, area.longitudeCenter
    place, _ = nearest_place(lat, lng)
    # Codes under 10 digits cover more than ~14 m square (8 digits is ~275 m).
    return GeocodeResult(lat, lng, f"near {place.name}", area.codeLength < 10, "")
