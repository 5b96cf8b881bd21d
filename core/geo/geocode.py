"""Postcode to a point: offline centroids, postcodes.io, a fallback and a Redis cache. Plus Codes: `plus_codes`."""

from __future__ import annotations

import json
import logging
import re
import time
import urllib.error
import urllib.parse
import urllib.request
from dataclasses import asdict, dataclass
from functools import cache
from typing import Any, Protocol

import redis

from core.errors import DomainError, Unavailable
from core.geo.places import in_service_area

log = logging.getLogger(__name__)

# BS 7666 shapes: A9, A99, AA9, AA99, A9A, AA9A; letters the Royal Mail never uses in each position are left out.
_OUTWARD = (
    r"(?:[A-PR-UWYZ][0-9]{1,2}|[A-PR-UWYZ][A-HK-Y][0-9]{1,2}"
    r"|[A-PR-UWYZ][0-9][A-HJKPSTUW]|[A-PR-UWYZ][A-HK-Y][0-9][ABEHMNPRVWXY])"
)
_INWARD = r"[0-9][ABD-HJLNP-UW-Z]{2}"
FULL_POSTCODE_RE = re.compile(rf"(?:{_OUTWARD}{_INWARD}|GIR0AA)")
OUTWARD_RE = re.compile(_OUTWARD)
AREA_RE = re.compile(r"[A-Z]{1,2}")


@dataclass(frozen=True)
class GeocodeResult:
    lat: float
    lng: float
    label: str
    approximate: bool
    postcode: str  # normalised ("RG1 1AA", or "RG1" for a district); "" for a Plus Code


class InvalidPostcode(DomainError, ValueError):
    """Text that is not shaped like a UK postcode."""

    def __init__(self, text: object) -> None:
        shown = str(text).strip()[:20]
        super().__init__(f"'{shown}' is not a UK postcode — check it or share your location instead")


class PostcodeNotFound(DomainError, ValueError):
    """A well-formed postcode that no geocoder knows."""

    def __init__(self, postcode: str, message: str | None = None) -> None:
        self.postcode = postcode
        super().__init__(message or f"We can't find {postcode} — check it or share your location instead")


class OutsideServiceArea(PostcodeNotFound):
    """A real postcode outside Great Britain and Northern Ireland (Isle of Man, Channel Islands)."""

    def __init__(self, postcode: str, where: str = "", message: str | None = None) -> None:
        where = f" is in {where}," if where else " is"
        super().__init__(
            postcode,
            message or f"{postcode}{where} outside our service area: we cover Great Britain and Northern Ireland",
        )


class GeocoderUnavailable(Unavailable):
    """The geocoding service could not be reached, did not answer in time, or answered badly."""

    def __init__(self, message: str) -> None:
        super().__init__(message, service="geocoder")


def normalise_postcode(text: str) -> str:
    """'rg11aa' -> 'RG1 1AA', ' sw1a ' -> 'SW1A'; raises InvalidPostcode."""
    if not isinstance(text, str):
        raise InvalidPostcode(text)
    compact = re.sub(r"\s+", "", text).upper()
    if FULL_POSTCODE_RE.fullmatch(compact):
        return f"{compact[:-3]} {compact[-3:]}"
    if OUTWARD_RE.fullmatch(compact):
        return compact
    raise InvalidPostcode(text)


class Geocoder(Protocol):
    def geocode_postcode(self, postcode: str) -> GeocodeResult: ...


@dataclass(frozen=True)
class _Centroid:
    name: str
    lat: float | None
    lng: float | None


@cache
def _centroids() -> dict[str, _Centroid]:
    # Imported on first use: the package loads a country's postcode file, needed only for an offline fallback.
    from countrystatecity_postal_codes import get_postcodes_of_country

    # The package's GB file holds only the 124 postcode areas ("RG"), no districts, as of 2.0.1.
    return {
        p.code.upper(): _Centroid(p.localityName or p.code, p.latitude, p.longitude)
        for p in get_postcodes_of_country("GB")
    }


class OfflineGeocoder:
    """Shipped postcode centroids only: the most specific level held (areas today), so approximate."""

    def geocode_postcode(self, postcode: str) -> GeocodeResult:
        pc = normalise_postcode(postcode)
        outward = pc.split(" ")[0]
        m = AREA_RE.match(outward)
        if m is None:  # normalise_postcode admits only postcodes that start with their area's letters
            raise PostcodeNotFound(pc)
        area = m.group()
        data = _centroids()
        hit, code = (data[outward], outward) if outward in data else (data.get(area), area)
        if hit is None:
            raise PostcodeNotFound(pc)
        if hit.lat is None or hit.lng is None or not in_service_area(hit.lat, hit.lng):
            raise OutsideServiceArea(pc, hit.name)
        label = (
            f"{hit.name} ({outward}), approximate" if code == outward else f"{hit.name} area ({outward}), approximate"
        )
        return GeocodeResult(hit.lat, hit.lng, label, True, pc)


class PostcodesIoGeocoder:
    """postcodes.io over HTTP: exact for full postcodes, the district centroid for outward codes."""

    def __init__(self, base_url: str = "https://api.postcodes.io", timeout: float = 2.0) -> None:
        """`timeout` bounds the connection and each read of the answer (settings: GEOCODER_TIMEOUT_S)."""
        if urllib.parse.urlsplit(base_url).scheme not in ("http", "https"):
            raise ValueError("base_url must be http(s)")
        self.base_url = base_url.rstrip("/")
        self.timeout = timeout

    def _get(self, path: str, pc: str) -> dict[str, Any]:
        req = urllib.request.Request(
            self.base_url + path, headers={"Accept": "application/json", "User-Agent": "TyreHero/1.0"}
        )
        try:
            with urllib.request.urlopen(req, timeout=self.timeout) as resp:  # scheme checked in __init__
                body = json.load(resp)
        except urllib.error.HTTPError as e:
            if e.code == 404:
                raise PostcodeNotFound(pc) from None
            raise GeocoderUnavailable(f"postcodes.io answered HTTP {e.code}") from e
        except (OSError, ValueError) as e:  # URLError, timeouts, refused connections, bad JSON
            if isinstance(getattr(e, "reason", e), TimeoutError):  # urllib wraps a connect timeout in URLError
                raise GeocoderUnavailable(f"postcodes.io did not answer within {self.timeout:g} s") from e
            raise GeocoderUnavailable(f"postcodes.io unreachable: {e}") from e
        result = body.get("result") if isinstance(body, dict) else None
        if not isinstance(result, dict):
            raise GeocoderUnavailable("postcodes.io answered without a result")
        return result

    def geocode_postcode(self, postcode: str) -> GeocodeResult:
        pc = normalise_postcode(postcode)
        full = " " in pc
        quoted = urllib.parse.quote(pc)
        result = self._get(f"/postcodes/{quoted}" if full else f"/outcodes/{quoted}", pc)
        lat, lng = result.get("latitude"), result.get("longitude")
        if lat is None or lng is None:  # terminated or non-geographic postcodes carry no point
            raise PostcodeNotFound(pc)
        lat, lng = float(lat), float(lng)
        if not in_service_area(lat, lng):
            raise OutsideServiceArea(pc)
        district = result.get("admin_district")
        if isinstance(district, list):  # outcodes list every district they touch
            district = ", ".join(district[:2])
        label = f"{pc}, {district}" if district else pc
        return GeocodeResult(lat, lng, label, not full, pc)


class FallbackGeocoder:
    """The primary first; the fallback only when the primary is unavailable (not when it says 'not found')."""

    def __init__(self, primary: Geocoder, fallback: Geocoder) -> None:
        self.primary = primary
        self.fallback = fallback

    def geocode_postcode(self, postcode: str) -> GeocodeResult:
        try:
            return self.primary.geocode_postcode(postcode)
        except GeocoderUnavailable as e:
            log.warning("primary geocoder unavailable, using fallback: %s", e)
            return self.fallback.geocode_postcode(postcode)


class _KeyValue(Protocol):
    def get(self, name: str) -> Any: ...
    def set(self, name: str, value: str, ex: int | None = None) -> Any: ...


_CACHED_ERRORS: dict[str, type[PostcodeNotFound]] = {"not_found": PostcodeNotFound, "outside": OutsideServiceArea}


class CachedGeocoder:
    """Answers (and 'not found') kept as JSON in Redis; while Redis fails, lookups go straight to the inner geocoder."""

    def __init__(
        self,
        inner: Geocoder,
        redis_client: _KeyValue,
        ttl_seconds: int = 86_400,
        prefix: str = "th:geo:",
        not_found_ttl_seconds: int = 3_600,
        approximate_ttl_seconds: int = 600,
        redis_retry_seconds: float = 30.0,
    ) -> None:
        self.inner = inner
        self.redis = redis_client
        self.ttl_seconds = ttl_seconds
        self.prefix = prefix
        self.not_found_ttl_seconds = not_found_ttl_seconds
        # An approximate answer usually means the exact service was down: retry it soon.
        self.approximate_ttl_seconds = approximate_ttl_seconds
        # redis-py retries a dead server with back-off (seconds per command), so after one failure skip it a while.
        self.redis_retry_seconds = redis_retry_seconds
        self._redis_down_until = 0.0

    def geocode_postcode(self, postcode: str) -> GeocodeResult:
        pc = normalise_postcode(postcode)
        key = self.prefix + pc
        cached = self._read(key)
        if cached is not None:
            if "error" in cached:
                raise _CACHED_ERRORS.get(cached["error"], PostcodeNotFound)(pc, message=cached.get("message"))
            return GeocodeResult(**cached)
        try:
            result = self.inner.geocode_postcode(pc)
        except PostcodeNotFound as e:
            kind = "outside" if isinstance(e, OutsideServiceArea) else "not_found"
            self._write(key, {"error": kind, "message": e.message}, self.not_found_ttl_seconds)
            raise
        ttl = self.approximate_ttl_seconds if result.approximate else self.ttl_seconds
        self._write(key, asdict(result), ttl)
        return result

    def _redis_failed(self, e: Exception) -> None:
        log.warning("geocode cache unavailable for %.0f s: %s", self.redis_retry_seconds, e)
        self._redis_down_until = time.monotonic() + self.redis_retry_seconds

    def _read(self, key: str) -> dict[str, Any] | None:
        if time.monotonic() < self._redis_down_until:
            return None
        try:
            raw = self.redis.get(key)
        except (redis.RedisError, OSError) as e:
            self._redis_failed(e)
            return None
        if raw is None:
            return None
        try:
            value: dict[str, Any] = json.loads(raw)
            if "error" not in value:
                GeocodeResult(**value)  # a stale or foreign shape is a miss, not a crash
            return value
        except (ValueError, TypeError):
            return None

    def _write(self, key: str, value: dict[str, Any], ttl: int) -> None:
        if time.monotonic() < self._redis_down_until:
            return
        try:
            self.redis.set(key, json.dumps(value), ex=ttl)
        except (redis.RedisError, OSError) as e:
            self._redis_failed(e)
