"""Who is on the other end of a connection: the peer, or the client a trusted proxy names for it.

`X-Forwarded-For` is written by whoever sends the request, so it is believed only when the peer is one
of our own proxies (TRUSTED_PROXIES), and then only as far back as the chain of trusted proxies goes:
each proxy appends the address it saw, so the right-most entry that is not one of ours is the first
address no proxy of ours can vouch beyond. Everything left of it may be made up by the client.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Sequence

from core.config import IPNetwork

UNKNOWN = "unknown"


def parse_address(value: str) -> ipaddress.IPv4Address | ipaddress.IPv6Address | None:
    """An address as proxies write it: bare, `[v6]:port`, `v4:port`, or an IPv4-mapped IPv6; else None."""
    text = value.strip().strip('"')
    if text.startswith("["):
        text = text[1:].split("]", 1)[0]
    elif text.count(":") == 1:
        text = text.split(":", 1)[0]
    text = text.split("%", 1)[0]  # a zone index names the interface, not the host
    try:
        ip = ipaddress.ip_address(text)
    except ValueError:
        return None
    if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped is not None:
        return ip.ipv4_mapped
    return ip


def in_networks(ip: ipaddress.IPv4Address | ipaddress.IPv6Address, networks: Sequence[IPNetwork]) -> bool:
    return any(ip.version == net.version and ip in net for net in networks)


def client_address(peer: str | None, forwarded_for: str | None, trusted: Sequence[IPNetwork]) -> str:
    """The client's address from the socket's peer and the X-Forwarded-For value (plain strings, so pages can
    pass `router.session.client_ip` and their headers). Without a trusted peer the header is ignored."""
    peer_ip = parse_address(peer or "")
    if peer_ip is None:
        return (peer or "").strip() or UNKNOWN
    if not forwarded_for or not trusted or not in_networks(peer_ip, trusted):
        return str(peer_ip)
    hop = peer_ip
    for entry in reversed(forwarded_for.split(",")):
        ip = parse_address(entry)
        if ip is None:  # garbage in the chain: nothing to its left can be believed, stay at the last good hop
            return str(hop)
        hop = ip
        if not in_networks(ip, trusted):
            return str(ip)
    return str(hop)  # every hop is ours: the left-most is as far as we can see
