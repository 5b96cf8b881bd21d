"""Where a request is: a shared point, a postcode or a Plus Code, turned into a checked point in the service area."""

from __future__ import annotations

from dataclasses import dataclass

from core.context import Core
from core.errors import ValidationFailed
from core.geo import places
from core.geo.geocode import GeocoderUnavailable, InvalidPostcode, PostcodeNotFound, normalise_postcode
from core.geo.plus_codes import decode_plus_code
from core.schemas import LocationIn

_GEOCODER_DOWN = "We cannot look up postcodes right now: share your location instead."
_OUTSIDE = "That point is outside our service area: we cover Great Britain and Northern Ireland."


@dataclass(frozen=True)
class ResolvedLocation:
    lat: float
    lng: float
    label: str
    approximate: bool
    postcode: str | None = None


def resolve_location(core: Core, loc: LocationIn) -> ResolvedLocation:
    """Turn a point, a postcode or a Plus Code into a checked point in the service area.

    A point is exact (shared GPS, or a pin the driver placed); sent with a postcode (the pin placed on the
    map of the postcode they typed), the postcode is kept and names the place. A postcode alone is
    exact only when the geocoder knows that postcode's own point; a district or area centroid is approximate.
    """
    if loc.lat is not None and loc.lng is not None:
        if loc.postcode:
            try:
                pc = normalise_postcode(loc.postcode)
            except InvalidPostcode as e:
                raise ValidationFailed({"location.postcode": str(e)}) from None
            res = ResolvedLocation(loc.lat, loc.lng, f"Pin near {pc}", False, pc)
        else:
            place, km = places.nearest_place(loc.lat, loc.lng)
            label = f"near {place.name}" if km < 25 else f"{km:.0f} km from {place.name}"
            res = ResolvedLocation(loc.lat, loc.lng, label, False)
    else:
        try:
            if loc.plus_code:
                g = decode_plus_code(loc.plus_code)
            else:
                g = core.geocoder.geocode_postcode(loc.postcode or "")
        except (InvalidPostcode, PostcodeNotFound, ValueError) as e:
            raise ValidationFailed({"location": str(e)}) from None
        except GeocoderUnavailable:
            raise ValidationFailed({"location": _GEOCODER_DOWN}) from None
        res = ResolvedLocation(g.lat, g.lng, g.label, g.approximate, g.postcode or None)
    if not places.in_service_area(res.lat, res.lng):
        raise ValidationFailed({"location": _OUTSIDE})
    return res
