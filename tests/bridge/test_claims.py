"""The feed link record and the standby decision between bridges: pure logic, no I/O."""

from __future__ import annotations

import msgspec
import pytest

from stampede.bridge.claims import Claims
from stampede.bridge.link import FeedLink
from stampede.bridge.settings import BridgeSettings


def report(instance: str, state: str) -> bytes:
    return msgspec.json.encode({"instance": instance, "state": state, "faults": {}})


def test_the_link_counts_faults_by_kind_and_dates_each_state() -> None:
    now = [1_000]
    changes: list[str] = []
    link = FeedLink("me", lambda: now[0], on_change=lambda: changes.append(link.state))
    link.enter("connected")
    now[0] = 5_000
    link.ended("ping_timeout", "no pong from Massive in time")
    link.enter("backoff", next_attempt_ms=5_400)
    link.enter("backoff", next_attempt_ms=5_400)  # no change, no report
    link.ended("connect_failed")
    wire = link.to_wire()
    assert wire["state"] == "backoff" and wire["since_ms"] == 5_000
    assert wire["reason"] == "connect_failed" and wire["next_attempt_ms"] == 5_400
    assert wire["faults"] == {"connect_failed": 1, "ping_timeout": 1}
    assert wire["faults_total"] == 2
    assert changes == ["connected", "backoff"]
    with pytest.raises(ValueError, match="unknown feed link state"):
        link.enter("flapping")


def test_a_standby_bridge_waits_while_another_claims_the_feed() -> None:
    claims = Claims("me", timeout=5.0)
    claims.listening(True, now=0.0)
    assert not claims.may_take_over(4.0)  # has not listened long enough to know
    assert claims.may_take_over(5.0)  # nobody claimed it in a whole timeout
    claims.observe(report("other", "connected"), now=6.0)
    claims.observe(report("me", "connected"), now=6.0)  # our own report is not a claim
    assert claims.holder(6.0) == "other" and not claims.may_take_over(10.9)
    claims.observe(report("other", "backoff"), now=11.0)  # reconnecting: still its feed
    assert not claims.may_take_over(15.0)
    assert claims.holder(16.1) is None and claims.may_take_over(16.1)  # silent: died


def test_a_clean_stop_or_a_standby_peer_releases_the_feed_at_once() -> None:
    claims = Claims("me", timeout=5.0)
    claims.listening(True, now=0.0)
    claims.observe(report("other", "connected"), now=10.0)
    claims.observe(report("other", "stopped"), now=10.5)
    assert claims.may_take_over(10.5)
    claims.observe(report("third", "standby"), now=11.0)  # evicted itself: claims nothing
    assert claims.may_take_over(11.0)


def test_nothing_heard_during_a_nats_outage_counts_as_a_free_feed() -> None:
    claims = Claims("me", timeout=5.0)
    claims.listening(True, now=0.0)
    claims.observe(report("other", "connected"), now=1.0)
    claims.listening(False, now=2.0)  # NATS down: the holder's reports cannot reach us
    assert not claims.may_take_over(20.0)
    claims.listening(True, now=20.0)
    assert not claims.may_take_over(24.0)  # listen a whole timeout again first
    claims.observe(report("other", "connected"), now=21.0)
    assert not claims.may_take_over(25.5)
    assert claims.may_take_over(26.1)


@pytest.mark.parametrize(
    "raw",
    [b"", b"{", b"[]", b'{"instance": 3, "state": "connected"}', report("x", "flapping")],
)
def test_a_bad_report_is_refused_with_a_reason(raw: bytes) -> None:
    claims = Claims("me", timeout=5.0)
    with pytest.raises(ValueError):
        claims.observe(raw, now=0.0)
    assert claims.peers == {}


def test_the_holder_timeout_must_outlast_two_reports() -> None:
    with pytest.raises(ValueError, match="BRIDGE_HOLDER_TIMEOUT"):
        BridgeSettings(massive_api_key="k", bridge_status_interval=2, bridge_holder_timeout=4)
