"""Per-address limits name an IPv4 address as it is and an IPv6 address by its /64."""

from __future__ import annotations

import ipaddress

from hypothesis import given
from hypothesis import strategies as st

from core.infra.ratelimit import rate_key_for_address

v6 = st.integers(min_value=0, max_value=2**128 - 1).map(ipaddress.IPv6Address)


@given(a=v6, b=v6)
def test_two_ipv6_addresses_share_a_key_exactly_when_they_share_a_64(a: ipaddress.IPv6Address,
                                                                      b: ipaddress.IPv6Address) -> None:
    if a.ipv4_mapped or b.ipv4_mapped:
        return
    same_64 = int(a) >> 64 == int(b) >> 64
    assert (rate_key_for_address(str(a)) == rate_key_for_address(str(b))) == same_64


@given(a=v6, low=st.integers(min_value=0, max_value=2**64 - 1))
def test_every_address_a_host_can_pick_in_its_64_counts_as_one(a: ipaddress.IPv6Address, low: int) -> None:
    if a.ipv4_mapped:
        return
    other = ipaddress.IPv6Address((int(a) >> 64 << 64) | low)
    assert rate_key_for_address(str(other)) == rate_key_for_address(str(a)) == str(
        ipaddress.IPv6Network((a, 64), strict=False))


@given(n=st.integers(min_value=0, max_value=2**32 - 1))
def test_ipv4_addresses_are_their_own_key_also_when_written_as_mapped_ipv6(n: int) -> None:
    ip = ipaddress.IPv4Address(n)
    assert rate_key_for_address(str(ip)) == str(ip) == rate_key_for_address(f"::ffff:{ip}")


def test_something_that_is_not_an_address_is_kept_as_it_is() -> None:
    assert rate_key_for_address("unknown") == "unknown"
