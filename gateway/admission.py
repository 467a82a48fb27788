"""Admission: how many WebSockets the gateway holds, in all and per client address.

A connection counts from its handshake (before authentication, which may take
``GATEWAY_AUTH_TIMEOUT_SECONDS``) until it closes, so handshakes still pending can no longer
slip past the cap (1,500 admitted under a cap of 1,000 before, issue 25), and one address
cannot take every slot. Behind a proxy every connection comes from the proxy: the client's
address is then the right-most ``X-Forwarded-For`` entry that is not a trusted proxy, and
only connections from a trusted proxy (``GATEWAY_TRUSTED_PROXIES``) are believed at all, so a
client cannot pick its own address.
"""

from __future__ import annotations

import ipaddress
from collections import Counter
from typing import Literal

from stampede.gateway import metrics

Network = ipaddress.IPv4Network | ipaddress.IPv6Network
Refusal = Literal["gateway_full", "address_full"]


def networks(text: str) -> list[Network]:
    """``10.0.0.0/8, 127.0.0.1`` as networks (a bare address is a /32 or /128)."""
    return [
        ipaddress.ip_network(part.strip(), strict=False) for part in text.split(",") if part.strip()
    ]


def trusted(address: str, proxies: list[Network]) -> bool:
    try:
        ip = ipaddress.ip_address(address)
    except ValueError:
        return False
    return any(ip in network for network in proxies)


class Admission:
    def __init__(self, max_total: int, max_per_address: int, trusted_proxies: str = "") -> None:
        self.max_total, self.max_per_address = max_total, max_per_address
        self.proxies = networks(trusted_proxies)
        self.by_address: Counter[str] = Counter()
        self.total = 0  # connections counted now, from the handshake to the close
        self.peak = 0  # the most counted at once

    def address(self, peer: str | None, forwarded_for: str | None) -> str:
        """The client's address: the peer's, or behind trusted proxies the right-most
        forwarded address that is not one of them."""
        address = peer or "unknown"
        if forwarded_for and trusted(address, self.proxies):
            for hop in reversed([h.strip() for h in forwarded_for.split(",") if h.strip()]):
                address = hop
                if not trusted(hop, self.proxies):
                    break
        return address

    def admit(self, address: str) -> Refusal | None:
        """Count a new connection from ``address``; why it is refused, or None."""
        if self.total >= self.max_total:
            return "gateway_full"
        if self.by_address[address] >= self.max_per_address:
            return "address_full"
        self.by_address[address] += 1
        self.total += 1
        metrics.ADMITTED.set(self.total)
        if self.total > self.peak:
            self.peak = self.total
            metrics.ADMITTED_PEAK.set(self.peak)
        return None

    def release(self, address: str) -> None:
        self.by_address[address] -= 1
        if self.by_address[address] <= 0:
            del self.by_address[address]
        self.total -= 1
        metrics.ADMITTED.set(self.total)
