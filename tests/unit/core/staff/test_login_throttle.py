"""The throttle's arithmetic and how addresses are grouped (no I/O)."""

from __future__ import annotations

import ipaddress

from hypothesis import assume, example, given
from hypothesis import strategies as st

from core.staff.login_throttle import ADDRESS, PAIR, USERNAME, Backoff, address_key


def test_a_pairs_wait_doubles_from_one_second_to_a_quarter_hour() -> None:
    assert [PAIR.delay(n) for n in range(0, 13)] == [0, 1, 2, 4, 8, 16, 32, 64, 128, 256, 512, 900, 900]


def test_an_address_fails_twenty_times_freely_and_a_username_never_waits_long() -> None:
    assert ADDRESS.delay(ADDRESS.free) == 0, "wanted ADDRESS.delay(ADDRESS.free) == 0"
    assert ADDRESS.delay(ADDRESS.free + 1) == 1, "wanted ADDRESS.delay(ADDRESS.free + 1) == 1"
    assert max(USERNAME.delay(n) for n in range(10_000)) == USERNAME.cap_s <= 30


@given(st.integers(0, 10**9), st.integers(0, 10**9))
def test_a_wait_never_shrinks_with_more_failures_and_never_passes_its_cap(a: int, b: int) -> None:
    lo, hi = sorted((a, b))
    for b_ in (PAIR, ADDRESS, USERNAME, Backoff(free=3, base_s=0.5, cap_s=7, forget_s=60)):
        assert 0 <= b_.delay(lo) <= b_.delay(hi) <= b_.cap_s


@given(st.integers(0, 2**128 - 1), st.integers(0, 2**64 - 1))
@example(0, 0xFFFF_0000_0000)  # :: beside ::ffff:0.0.0.0, an IPv4 client: not the same /64 client
def test_every_address_of_one_ipv6_64_counts_as_one(address: int, host: int) -> None:
    a = ipaddress.IPv6Address(address)
    same_64 = ipaddress.IPv6Address((address >> 64 << 64) | host)
    # ::ffff:0:0/96 lies inside ::/64: those are IPv4 clients of a dual-stack socket, counted per IPv4 address
    # (the test below).
    assume(a.ipv4_mapped is None and same_64.ipv4_mapped is None)
    assert address_key(str(a)) == address_key(str(same_64)) == str(ipaddress.IPv6Network((a, 64), strict=False))


@given(st.integers(0, 2**32 - 1))
def test_ipv4_counts_per_address_also_when_written_as_ipv6(address: int) -> None:
    v4 = ipaddress.IPv4Address(address)
    assert address_key(str(v4)) == str(v4) == address_key(f"::ffff:{v4}")


def test_an_unparseable_address_counts_as_itself() -> None:
    assert address_key("unknown") == "unknown"
    assert address_key("fe80::1%eth0") == "fe80::/64"
