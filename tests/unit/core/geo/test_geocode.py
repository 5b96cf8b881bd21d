"""Postcode normalising, the offline and postcodes.io geocoders, the fallback and Plus Codes (no network)."""

from __future__ import annotations

import json
import socket
import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
from openlocationcode import openlocationcode as olc

from core.geo.geocode import (
    FallbackGeocoder,
    GeocodeResult,
    GeocoderUnavailable,
    InvalidPostcode,
    OfflineGeocoder,
    OutsideServiceArea,
    PostcodeNotFound,
    PostcodesIoGeocoder,
    normalise_postcode,
)
from core.geo.places import in_service_area
from core.geo.plus_codes import InvalidPlusCode, decode_plus_code


@pytest.mark.parametrize(
    "text,expected",
    [
        ("RG1 1AA", "RG1 1AA"),
        ("rg11aa", "RG1 1AA"),
        ("  sw1a   1aa ", "SW1A 1AA"),
        ("M1 1AE", "M1 1AE"),
        ("B33 8TH", "B33 8TH"),
        ("CR2 6XH", "CR2 6XH"),
        ("DN55 1PT", "DN55 1PT"),
        ("W1A 0AX", "W1A 0AX"),
        ("EC1A 1BB", "EC1A 1BB"),
        ("BT1 5GS", "BT1 5GS"),
        ("RG1", "RG1"),
        ("sw1a", "SW1A"),
        ("M1", "M1"),
        ("ZE1", "ZE1"),
    ],
)
def test_normalise_valid(text: str, expected: str) -> None:
    assert normalise_postcode(text) == expected


@pytest.mark.parametrize(
    "text", ["", "XYZ", "RG", "12345", "RG1 1A", "Q1 1AA", "RG1 1CA", "RG1 1AAA", "SW1A 1AA X", "<script>"]
)
def test_normalise_invalid(text: str) -> None:
    with pytest.raises(InvalidPostcode) as e:
        normalise_postcode(text)
    assert isinstance(e.value, ValueError)


def test_invalid_message_is_human() -> None:
    with pytest.raises(InvalidPostcode, match="'XYZ' is not a UK postcode — check it or share your location instead"):
        normalise_postcode("XYZ")
    assert str(InvalidPostcode(None)).startswith("'None'")


# --- offline -----------------------------------------------------------------


def test_offline_resolves_to_the_postcode_area() -> None:
    r = OfflineGeocoder().geocode_postcode("rg1 1aa")
    assert r.postcode == "RG1 1AA"
    assert r.label == "Reading area (RG1), approximate"
    assert r.approximate is True
    assert in_service_area(r.lat, r.lng)
    assert OfflineGeocoder().geocode_postcode("RG1") == GeocodeResult(r.lat, r.lng, r.label, True, "RG1")


@pytest.mark.parametrize(
    "pc,town", [("M1 1AE", "Manchester"), ("BT1 5GS", "Belfast"), ("ZE1 0AA", "Shetland"), ("SW1A", "London")]
)
def test_offline_examples(pc: str, town: str) -> None:
    r = OfflineGeocoder().geocode_postcode(pc)
    assert town in r.label, "town missing from r.label"
    assert r.approximate, "wanted r.approximate"
    assert in_service_area(r.lat, r.lng)


def test_every_shipped_area_with_a_point_is_found_in_the_service_area() -> None:
    """Read from the shipped package itself: no area the offline geocoder holds a point for is refused."""
    from countrystatecity_postal_codes import get_postcodes_of_country

    areas = sorted(p.code.upper() for p in get_postcodes_of_country("GB") if p.latitude is not None)
    assert len(areas) > 100, f"only {len(areas)} postcode areas with a point are shipped"
    outside = []
    for area in areas:
        try:
            found = OfflineGeocoder().geocode_postcode(f"{area}1 1AA")
        except OutsideServiceArea:
            outside.append(area)
            continue
        assert in_service_area(found.lat, found.lng), f"{area} was placed outside the service area"
    assert outside == [], f"areas refused as outside the service area: {outside}"


def test_offline_unknown_area_is_not_found() -> None:
    with pytest.raises(PostcodeNotFound, match="AA1 1AA"):
        OfflineGeocoder().geocode_postcode("AA1 1AA")


@pytest.mark.parametrize("pc,where", [("JE2 3AB", "Jersey"), ("GY1 1AA", "Guernsey"), ("IM1 1AA", "Isle of Man")])
def test_offline_crown_dependencies_are_outside(pc: str, where: str) -> None:
    with pytest.raises(OutsideServiceArea) as e:
        OfflineGeocoder().geocode_postcode(pc)
    assert isinstance(e.value, PostcodeNotFound)
    assert where in str(e.value), "where missing from str(e.value)"
    assert "outside our service area" in str(e.value), "'outside our service area' missing from str(e.value)"


# --- postcodes.io, against a local stand-in server ------------------------------

RESPONSES: dict[str, tuple[int, object]] = {
    "/postcodes/RG1%201AA": (
        200,
        {
            "status": 200,
            "result": {"postcode": "RG1 1AA", "latitude": 51.4536, "longitude": -0.9705, "admin_district": "Reading"},
        },
    ),
    "/outcodes/RG1": (
        200,
        {
            "status": 200,
            "result": {
                "outcode": "RG1",
                "latitude": 51.4525,
                "longitude": -0.9749,
                "admin_district": ["Reading", "West Berkshire", "Wokingham"],
            },
        },
    ),
    "/postcodes/AB1%200AA": (
        200,
        {"status": 200, "result": {"postcode": "AB1 0AA", "latitude": None, "longitude": None}},
    ),
    "/postcodes/PA1%201AA": (
        200,
        {"status": 200, "result": {"latitude": 48.86, "longitude": 2.35, "admin_district": "Paris"}},
    ),
    "/postcodes/SW1A%201AA": (500, {"status": 500, "error": "boom"}),
    "/postcodes/EH1%201AA": (200, "not json at all"),
}


class _Handler(BaseHTTPRequestHandler):
    def do_GET(self) -> None:  # noqa: N802 (http.server's name)
        if self.path == "/postcodes/SL1%201AA":
            time.sleep(1.0)
        status, body = RESPONSES.get(self.path, (404, {"status": 404, "error": "Postcode not found"}))
        data = body.encode() if isinstance(body, str) else json.dumps(body).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def log_message(self, *args: object) -> None:
        pass


class _QuietServer(ThreadingHTTPServer):
    def handle_error(self, request: object, client_address: object) -> None:
        pass  # the timeout test hangs up on purpose


@pytest.fixture(scope="module")
def fake_api() -> Iterator[str]:
    server = _QuietServer(("127.0.0.1", 0), _Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()
    server.server_close()


def test_postcodes_io_full_postcode_is_exact(fake_api: str) -> None:
    r = PostcodesIoGeocoder(fake_api).geocode_postcode("rg11aa")
    assert r == GeocodeResult(51.4536, -0.9705, "RG1 1AA, Reading", False, "RG1 1AA")


def test_postcodes_io_outcode_is_approximate(fake_api: str) -> None:
    r = PostcodesIoGeocoder(fake_api).geocode_postcode("RG1")
    assert r.approximate, "wanted r.approximate"
    assert r.postcode == "RG1", f"r.postcode is {r.postcode!r}, wanted 'RG1'"
    assert r.label == "RG1, Reading, West Berkshire", (
        f"r.label is {r.label!r}, wanted 'RG1, Reading, West Berkshire'"
    )


def test_postcodes_io_not_found(fake_api: str) -> None:
    with pytest.raises(PostcodeNotFound):
        PostcodesIoGeocoder(fake_api).geocode_postcode("AA9 9AA")
    with pytest.raises(PostcodeNotFound):  # known but without a point (terminated)
        PostcodesIoGeocoder(fake_api).geocode_postcode("AB1 0AA")
    with pytest.raises(OutsideServiceArea):
        PostcodesIoGeocoder(fake_api).geocode_postcode("PA1 1AA")


@pytest.mark.parametrize("pc", ["SW1A 1AA", "EH1 1AA"])
def test_postcodes_io_bad_answers_are_unavailable(fake_api: str, pc: str) -> None:
    with pytest.raises(GeocoderUnavailable):
        PostcodesIoGeocoder(fake_api).geocode_postcode(pc)


def test_postcodes_io_timeout_is_unavailable(fake_api: str) -> None:
    with pytest.raises(GeocoderUnavailable):
        PostcodesIoGeocoder(fake_api, timeout=0.2).geocode_postcode("SL1 1AA")


def test_postcodes_io_refused_connection_is_unavailable() -> None:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    with pytest.raises(GeocoderUnavailable):
        PostcodesIoGeocoder(f"http://127.0.0.1:{port}", timeout=0.5).geocode_postcode("RG1 1AA")


def test_postcodes_io_rejects_other_schemes() -> None:
    with pytest.raises(ValueError):
        PostcodesIoGeocoder("file:///etc")


# --- fallback ------------------------------------------------------------------


class _Down:
    def geocode_postcode(self, postcode: str) -> GeocodeResult:
        raise GeocoderUnavailable("down")


class _Unknown:
    def geocode_postcode(self, postcode: str) -> GeocodeResult:
        raise PostcodeNotFound(postcode)


class _Counting:
    def __init__(self) -> None:
        self.calls = 0

    def geocode_postcode(self, postcode: str) -> GeocodeResult:
        self.calls += 1
        return GeocodeResult(1.0, 2.0, "counted", False, postcode)


def test_fallback_used_when_primary_down() -> None:
    r = FallbackGeocoder(_Down(), OfflineGeocoder()).geocode_postcode("RG1 1AA")
    assert r.approximate, "wanted r.approximate"
    assert "Reading" in r.label, "'Reading' missing from r.label"


def test_fallback_not_used_when_primary_answers() -> None:
    fallback = _Counting()
    with pytest.raises(PostcodeNotFound):
        FallbackGeocoder(_Unknown(), fallback).geocode_postcode("RG1 1AA")
    primary = _Counting()
    assert FallbackGeocoder(primary, fallback).geocode_postcode("RG1 1AA").label == "counted"
    assert primary.calls == 1, f"primary.calls is {primary.calls!r}, wanted 1"
    assert fallback.calls == 0, f"fallback.calls is {fallback.calls!r}, wanted 0"


def test_fallback_over_refused_postcodes_io() -> None:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    geo = FallbackGeocoder(PostcodesIoGeocoder(f"http://127.0.0.1:{port}", timeout=0.5), OfflineGeocoder())
    assert geo.geocode_postcode("M1 1AE").label == "Manchester area (M1), approximate"


# --- Plus Codes ------------------------------------------------------------------

READING = (51.4543, -0.9781)


def test_full_plus_code() -> None:
    code = olc.encode(*READING)
    r = decode_plus_code(code.lower())
    assert r.lat == pytest.approx(READING[0], abs=1e-3), (
        f"r.lat is {r.lat!r}, wanted pytest.approx(READING[0], abs=1e-3)"
    )
    assert r.lng == pytest.approx(READING[1], abs=1e-3), (
        f"r.lng is {r.lng!r}, wanted pytest.approx(READING[1], abs=1e-3)"
    )
    assert r.label == "near Reading", f"r.label is {r.label!r}, wanted 'near Reading'"
    assert r.approximate is False, f"r.approximate is {r.approximate!r}, wanted False"
    assert r.postcode == "", f"r.postcode is {r.postcode!r}, wanted ''"


def test_short_plus_code_with_reference_or_town() -> None:
    short = olc.encode(*READING)[4:]  # "GV4C+XV": how phones share them
    assert decode_plus_code(short, 51.4, -1.0).label == "near Reading"
    for text in (f"{short} Reading, UK", f"{short}, reading", f"  {short.lower()} Reading "):
        r = decode_plus_code(text)
        assert r.lat == pytest.approx(READING[0], abs=1e-3), text
        assert r.label == "near Reading", text


def test_short_plus_code_without_reference() -> None:
    short = olc.encode(*READING)[4:]  # "GV4C+XV": how phones share them
    with pytest.raises(InvalidPlusCode, match="short Plus Code"):
        decode_plus_code(short)
    with pytest.raises(InvalidPlusCode, match="short Plus Code"):
        decode_plus_code(f"{short} Atlantis")


@pytest.mark.parametrize("code", ["", "hello", "RG1 1AA", "9C3X+", "ZZZZZZZZ+ZZ"])
def test_invalid_plus_codes(code: str) -> None:
    with pytest.raises(InvalidPlusCode) as e:
        decode_plus_code(code)
    assert isinstance(e.value, ValueError), "wanted isinstance(e.value, ValueError)"
    assert "Plus Code" in str(e.value), "'Plus Code' missing from str(e.value)"
