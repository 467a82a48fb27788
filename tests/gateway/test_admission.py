"""Admission (gateway/admission.py): connections counted per client address from the handshake,
the address taken from X-Forwarded-For only behind a trusted proxy."""

from __future__ import annotations

from stampede.gateway.admission import Admission


def test_the_address_is_the_peer_unless_a_trusted_proxy_forwards_it() -> None:
    plain = Admission(10, 2)
    assert plain.address("203.0.113.9", "198.51.100.1") == "203.0.113.9"  # nobody trusted
    behind = Admission(10, 2, trusted_proxies="10.0.0.0/8, 127.0.0.1")
    assert behind.address("10.1.2.3", "198.51.100.1") == "198.51.100.1"
    # a client's own X-Forwarded-For entries come first: the right-most untrusted one counts
    assert behind.address("10.1.2.3", "1.2.3.4, 198.51.100.1, 10.9.9.9") == "198.51.100.1"
    assert behind.address("203.0.113.9", "198.51.100.1") == "203.0.113.9"  # not via the proxy
    assert behind.address(None, None) == "unknown"


def test_each_address_and_the_gateway_have_a_cap_until_released() -> None:
    admission = Admission(max_total=3, max_per_address=2)
    assert admission.admit("a") is None and admission.admit("a") is None
    assert admission.admit("a") == "address_full"
    assert admission.admit("b") is None
    assert admission.admit("c") == "gateway_full" and admission.total == 3
    admission.release("a")
    assert admission.admit("c") is None and admission.by_address == {"a": 1, "b": 1, "c": 1}
