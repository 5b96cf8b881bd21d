"""CachedGeocoder against a real Redis; the inner geocoder (a third-party API in production) is a counting fake."""

from __future__ import annotations

import json
import socket

import pytest
import redis

from core.geo.geocode import CachedGeocoder, GeocodeResult, GeocoderUnavailable, OutsideServiceArea, PostcodeNotFound


class CountingGeocoder:
    """Knows RG1 1AA exactly and RG2 approximately; JE postcodes are outside; the rest is unknown."""

    def __init__(self) -> None:
        self.calls: list[str] = []
        self.down = False

    def geocode_postcode(self, postcode: str) -> GeocodeResult:
        self.calls.append(postcode)
        if self.down:
            raise GeocoderUnavailable("down")
        if postcode == "RG1 1AA":
            return GeocodeResult(51.4536, -0.9705, "RG1 1AA, Reading", False, postcode)
        if postcode == "RG2":
            return GeocodeResult(51.42, -0.95, "Reading area (RG2), approximate", True, postcode)
        if postcode.startswith("JE"):
            raise OutsideServiceArea(postcode, "Jersey")
        raise PostcodeNotFound(postcode)


@pytest.fixture
def client(redis_client: redis.Redis) -> redis.Redis:
    """The shared test Redis (the environment's, else an embedded one)."""
    return redis_client


@pytest.fixture
def prefix(key_prefix: str) -> str:
    """A key prefix of this test alone, deleted afterwards by the shared fixture."""
    return key_prefix


def test_second_call_is_served_from_redis(client: redis.Redis, prefix: str) -> None:
    inner = CountingGeocoder()
    geo = CachedGeocoder(inner, client, prefix=prefix)
    first = geo.geocode_postcode("RG1 1AA")
    second = geo.geocode_postcode("rg11aa")  # normalised to the same key
    assert first == second == GeocodeResult(51.4536, -0.9705, "RG1 1AA, Reading", False, "RG1 1AA")
    assert inner.calls == ["RG1 1AA"]
    assert json.loads(client.get(f"{prefix}RG1 1AA"))["label"] == "RG1 1AA, Reading"
    assert 86_000 < client.ttl(f"{prefix}RG1 1AA") <= 86_400
    # A second process with its own CachedGeocoder shares the answer.
    other = CountingGeocoder()
    assert CachedGeocoder(other, client, prefix=prefix).geocode_postcode("RG1 1AA") == first
    assert other.calls == []


def test_approximate_answers_are_kept_briefly(client: redis.Redis, prefix: str) -> None:
    inner = CountingGeocoder()
    geo = CachedGeocoder(inner, client, prefix=prefix, approximate_ttl_seconds=300)
    assert geo.geocode_postcode("RG2").approximate
    assert geo.geocode_postcode("RG2").approximate
    assert inner.calls == ["RG2"]
    assert 0 < client.ttl(f"{prefix}RG2") <= 300


def test_not_found_is_cached_for_a_shorter_time(client: redis.Redis, prefix: str) -> None:
    inner = CountingGeocoder()
    geo = CachedGeocoder(inner, client, prefix=prefix, not_found_ttl_seconds=120)
    for _ in range(2):
        with pytest.raises(PostcodeNotFound) as e:
            geo.geocode_postcode("AA9 9AA")
        assert "AA9 9AA" in str(e.value)
    assert inner.calls == ["AA9 9AA"]
    assert 0 < client.ttl(f"{prefix}AA9 9AA") <= 120


def test_outside_answers_keep_their_type_and_message(client: redis.Redis, prefix: str) -> None:
    inner = CountingGeocoder()
    geo = CachedGeocoder(inner, client, prefix=prefix)
    messages = []
    for _ in range(2):
        with pytest.raises(OutsideServiceArea) as e:
            geo.geocode_postcode("JE2 3AB")
        messages.append(str(e.value))
    assert inner.calls == ["JE2 3AB"]
    assert messages[0] == messages[1], f"messages[0] is {messages[0]!r}, wanted messages[1]"
    assert "Jersey" in messages[0], "'Jersey' missing from messages[0]"


def test_unavailable_is_not_cached(client: redis.Redis, prefix: str) -> None:
    inner = CountingGeocoder()
    inner.down = True
    geo = CachedGeocoder(inner, client, prefix=prefix)
    with pytest.raises(GeocoderUnavailable):
        geo.geocode_postcode("RG1 1AA")
    assert client.get(f"{prefix}RG1 1AA") is None
    inner.down = False
    assert geo.geocode_postcode("RG1 1AA").label == "RG1 1AA, Reading"
    assert len(inner.calls) == 2


def test_corrupt_cache_entry_is_a_miss(client: redis.Redis, prefix: str) -> None:
    client.set(f"{prefix}RG1 1AA", "{not json")
    inner = CountingGeocoder()
    assert CachedGeocoder(inner, client, prefix=prefix).geocode_postcode("RG1 1AA").label == "RG1 1AA, Reading"
    client.set(f"{prefix}RG1 1AA", json.dumps({"lat": 1}))
    assert CachedGeocoder(inner, client, prefix=prefix).geocode_postcode("RG1 1AA").label == "RG1 1AA, Reading"
    assert len(inner.calls) == 2


class CountingClient:
    """A real redis.Redis wrapper that counts the commands sent to it."""

    def __init__(self, inner: redis.Redis) -> None:
        self.inner = inner
        self.commands = 0

    def get(self, name: str) -> object:
        self.commands += 1
        return self.inner.get(name)

    def set(self, name: str, value: str, ex: int | None = None) -> object:
        self.commands += 1
        return self.inner.set(name, value, ex=ex)


def _dead_redis() -> redis.Redis:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    # No retries here: redis-py's default back-off would make each refused command take ~11 s.
    return redis.Redis(host="127.0.0.1", port=port, socket_connect_timeout=0.5, retry=None)


def test_redis_down_falls_through_to_inner() -> None:
    dead = CountingClient(_dead_redis())
    inner = CountingGeocoder()
    geo = CachedGeocoder(inner, dead)
    assert geo.geocode_postcode("RG1 1AA").label == "RG1 1AA, Reading"
    assert geo.geocode_postcode("RG1 1AA").label == "RG1 1AA, Reading"
    with pytest.raises(PostcodeNotFound):
        geo.geocode_postcode("AA9 9AA")
    assert len(inner.calls) == 3
    # One failed read, then Redis is left alone for redis_retry_seconds.
    assert dead.commands == 1
    dead.inner.close()


def test_redis_is_tried_again_after_the_pause(client: redis.Redis, prefix: str) -> None:
    inner = CountingGeocoder()
    geo = CachedGeocoder(inner, _dead_redis(), prefix=prefix, redis_retry_seconds=0.0)
    geo.geocode_postcode("RG1 1AA")
    geo.redis = client  # Redis is back
    geo.geocode_postcode("RG1 1AA")
    geo.geocode_postcode("RG1 1AA")
    assert len(inner.calls) == 2
