"""Whose address a request carries: X-Forwarded-For only through trusted proxies, right-most untrusted hop."""

from __future__ import annotations

import ipaddress

from hypothesis import given
from hypothesis import strategies as st

from core.config import parse_networks
from core.infra.addresses import client_address, parse_address

PROXIES = parse_networks("10.0.0.0/8, fd00::/8")


def test_without_trusted_proxies_the_header_is_ignored() -> None:
    assert client_address("203.0.113.9", "198.51.100.1", ()) == "203.0.113.9"


def test_an_untrusted_peer_cannot_name_another_client() -> None:
    assert client_address("203.0.113.9", "198.51.100.1", PROXIES) == "203.0.113.9"


def test_a_trusted_proxy_names_the_client_it_saw() -> None:
    assert client_address("10.0.0.2", "198.51.100.1", PROXIES) == "198.51.100.1"


def test_what_the_client_wrote_left_of_its_own_address_is_skipped() -> None:
    # The client sent "X-Forwarded-For: 1.2.3.4"; our proxy appended what it saw.
    assert client_address("10.0.0.2", "1.2.3.4, 198.51.100.1", PROXIES) == "198.51.100.1"


def test_a_chain_of_our_proxies_is_walked_back() -> None:
    assert client_address("10.0.0.2", "1.2.3.4, 2001:db8::7, 10.9.9.9, fd00::1", PROXIES) == "2001:db8::7"


def test_when_every_hop_is_ours_the_left_most_is_the_client() -> None:
    assert client_address("10.0.0.2", "10.1.1.1, 10.2.2.2", PROXIES) == "10.1.1.1"


def test_garbage_in_the_chain_stops_at_the_last_hop_that_could_be_read() -> None:
    assert client_address("10.0.0.2", "198.51.100.1, unknown, 10.3.3.3", PROXIES) == "10.3.3.3"


def test_ports_brackets_and_mapped_addresses_are_read_as_proxies_write_them() -> None:
    assert client_address("10.0.0.2", "[2001:db8::1]:4711", PROXIES) == "2001:db8::1"
    assert client_address("10.0.0.2", "198.51.100.1:4711", PROXIES) == "198.51.100.1"
    assert client_address("::ffff:10.0.0.2", "198.51.100.1", PROXIES) == "198.51.100.1"
    assert parse_address("fe80::1%eth0") == ipaddress.ip_address("fe80::1")


def test_an_empty_or_unreadable_peer_is_reported_as_it_is() -> None:
    assert client_address(None, "198.51.100.1", PROXIES) == "unknown"
    assert client_address("testclient", None, PROXIES) == "testclient"


public_v4 = st.integers(min_value=0x0B000000, max_value=0xDFFFFFFF).map(lambda n: str(ipaddress.IPv4Address(n)))
public_v6 = st.integers(min_value=0x2001_0DB8 << 96, max_value=(0x2001_0DB9 << 96) - 1).map(
    lambda n: str(ipaddress.IPv6Address(n)))
public = st.one_of(public_v4, public_v6)
ours = st.one_of(
    st.integers(min_value=0x0A000000, max_value=0x0AFFFFFF).map(lambda n: str(ipaddress.IPv4Address(n))),
    st.integers(min_value=0xFD << 120, max_value=(0xFE << 120) - 1).map(lambda n: str(ipaddress.IPv6Address(n))),
)
anything = st.one_of(public, ours, st.text(alphabet="abcdef0123456789.:[] ", max_size=20))


@given(spoofed=st.lists(anything, max_size=5), client=public, chain=st.lists(ours, min_size=1, max_size=4))
def test_whatever_a_client_writes_it_is_found_behind_our_proxies(
    spoofed: list[str], client: str, chain: list[str]
) -> None:
    *inner, peer = chain
    header = ", ".join([*spoofed, client, *inner])
    assert client_address(peer, header, PROXIES) == client


@given(peer=public, header=st.lists(anything, max_size=6))
def test_an_untrusted_peer_is_always_the_client(peer: str, header: list[str]) -> None:
    assert client_address(peer, ", ".join(header), PROXIES) == peer
