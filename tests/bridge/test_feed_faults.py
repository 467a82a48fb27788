"""Feed faults beyond a clean close, against the real simulator and a real nats-server.

Each fault is switched on through the simulator's HTTP controls (``/_sim/faults/...``), the
way an operator or the pipeline fault test does, and each must be noticed, counted by kind
(metrics and the feed link the dashboard shows) and recovered from by the bridge alone:

- a connection that goes silent without a close: only the ping timeout can notice it;
- the feed refusing connections: retries back off with jitter, no hot loop, and rejoin;
- a second bridge with the same key: it takes the feed (the newest wins), the first stands by
  instead of evicting it back, and takes over once the second stops.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator

import httpx
import nats
import pytest

from stampede.bridge.bridge import Bridge
from stampede.bridge.claims import SUBJECT
from stampede.bridge.settings import BridgeSettings
from stampede.sim.server import Simulator
from stampede.sim.testing import running_simulator
from support.bridge import bridge_settings, metric, running_bridge, wait_for

SIM = {"start": "09:30:00", "symbols": 200, "seed": 11, "history_days": 2}
PUBLISHED = "stampede_bridge_published_events_total"
RECONNECTS = "stampede_bridge_reconnects_total"


@pytest.fixture
async def sim() -> AsyncIterator[Simulator]:
    async with running_simulator(**SIM, speed=1) as sim:
        yield sim


@pytest.fixture
async def controls(sim: Simulator) -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient(
        base_url=f"{sim.rest_url}/_sim", params={"apiKey": sim.api_key}, timeout=5
    ) as client:
        yield client


async def flowing(bridge: Bridge, what: str, timeout: float = 20.0) -> None:
    """New trades reach JetStream through this bridge."""
    before = metric(bridge, PUBLISHED, channel="T")
    await wait_for(lambda: metric(bridge, PUBLISHED, channel="T") > before, timeout, what=what)


def fault_settings(nats_url: str, sim: Simulator, **overrides: object) -> BridgeSettings:
    return bridge_settings(
        nats_url, sim.ws_url, sim.api_key, massive_subscriptions="A.*,T.*", **overrides
    )


def sim_disconnects(sim: Simulator, reason: str) -> float:
    value = sim.metrics.registry.get_sample_value(
        "stampede_sim_disconnects_total", {"reason": reason}
    )
    return value or 0.0


async def test_a_connection_gone_silent_is_noticed_by_the_ping_timeout_and_replaced(
    nats_url: str, sim: Simulator, controls: httpx.AsyncClient
) -> None:
    settings = fault_settings(nats_url, sim, bridge_ping_interval=0.5, bridge_ping_timeout=1.0)
    async with running_bridge(settings) as bridge:
        await flowing(bridge, "trades")
        assert (await controls.get("/faults/hang")).json() == {"hung": 1}
        hung_at = time.monotonic()
        await asyncio.sleep(0.2)
        assert bridge.feed.authenticated, "nothing closed the connection: it must still look up"
        await wait_for(
            lambda: metric(bridge, RECONNECTS, reason="ping_timeout") == 1,
            timeout=15,
            what="the silent connection declared dead",
        )
        print(f"silent connection noticed after {time.monotonic() - hung_at:.1f}s")
        await wait_for(lambda: bridge.feed.authenticated, what="a new connection")
        await flowing(bridge, "trades on the new connection")
        # The new login with the same key cut the hung connection on the server for good.
        state = (await controls.get("/faults")).json()
        assert state["hung"] == 0 and state["connections"] == 1, state
        link = bridge.link.to_wire()
        assert link["state"] == "connected" and link["faults"] == {"ping_timeout": 1}, link
        assert link["reason"].startswith("ping_timeout")
        assert metric(bridge, "stampede_bridge_feed_state", state="connected") == 1
        assert (await bridge.readiness())[0]


async def test_a_feed_refusing_connections_is_retried_with_growing_jittered_delays(
    nats_url: str, sim: Simulator, controls: httpx.AsyncClient
) -> None:
    settings = fault_settings(nats_url, sim, bridge_backoff_initial=0.2, bridge_backoff_max=2.0)
    refuse_s = 5.0
    async with running_bridge(settings) as bridge:
        await flowing(bridge, "trades")
        attempts_before = metric(bridge, "stampede_bridge_connect_attempts_total")
        waits: dict[int, float] = {}  # each backoff the link reported: since -> wait (s)

        async def watch() -> None:
            while True:
                link = bridge.link
                if link.state == "backoff" and link.next_attempt_ms is not None:
                    waits[link.since_ms] = (link.next_attempt_ms - link.since_ms) / 1000
                await asyncio.sleep(0.01)

        watcher = asyncio.create_task(watch())
        try:
            await controls.get("/faults/refuse", params={"seconds": refuse_s})
            assert sim.disconnect_all("force_disconnect") == 1
            started = time.monotonic()
            await asyncio.sleep(refuse_s)
            await wait_for(
                lambda: bridge.feed.authenticated,
                timeout=settings.bridge_backoff_max + 5,
                what="the feed rejoined after the refusal",
            )
            print(f"rejoined {time.monotonic() - started - refuse_s:.1f}s after the refusal")
        finally:
            watcher.cancel()
        await flowing(bridge, "trades after the storm")
    refused = sim.metrics.registry.get_sample_value("stampede_sim_refused_connections_total")
    attempts = metric(bridge, "stampede_bridge_connect_attempts_total") - attempts_before
    # Delays 0.1-0.2, 0.2-0.4, ... capped at 1-2 s: 5-8 tries in 5 s, not thousands.
    assert 4 <= refused <= 10, refused
    assert attempts == refused + 1  # every try but the last was refused
    assert metric(bridge, RECONNECTS, reason="connect_failed") == refused
    delays = [waits[since] for since in sorted(waits)]
    assert len(delays) >= refused, delays
    assert min(delays) >= settings.bridge_backoff_initial / 2 - 0.01, delays
    assert max(delays) <= settings.bridge_backoff_max + 0.01, delays
    assert max(delays[-3:]) >= settings.bridge_backoff_max / 2, f"never grew: {delays}"
    assert len({round(d, 3) for d in delays}) > len(delays) // 2, f"no jitter: {delays}"
    link = bridge.link.to_wire()
    assert link["faults"] == {"connect_failed": refused, "force_disconnect": 1}, link


async def test_a_second_bridge_with_the_same_key_is_not_evicted_back(
    nats_url: str, sim: Simulator
) -> None:
    settings = fault_settings(
        nats_url, sim, bridge_evicted_backoff=0.3, bridge_evicted_backoff_max=1.0
    )
    async with running_bridge(settings) as first:
        await flowing(first, "trades via the first bridge")
        nc = await nats.connect(nats_url)  # a report that is no report: counted, ignored
        await nc.publish(SUBJECT, b'{"instance": "x", "state": "flapping"}')
        await nc.close()
        await wait_for(
            lambda: metric(first, "stampede_bridge_peer_reports_total", outcome="bad") == 1,
            what="the bad report counted",
        )
        async with running_bridge(settings) as second:
            await wait_for(
                lambda: first.link.state == "standby" and first.link.holder is not None,
                what="the first bridge standing by",
            )
            assert first.link.holder == second.link.instance
            # Several eviction waits (capped at 1 s) and claim checks: a ping-pong would show.
            await asyncio.sleep(3.0)
            assert first.link.state == "standby" and second.feed.authenticated
            assert sim_disconnects(sim, "max_connections") == 1
            assert metric(first, RECONNECTS, reason="max_connections") == 1
            assert metric(second, RECONNECTS, reason="max_connections") == 0
            ready, detail = await first.readiness()
            assert not ready and second.link.instance in detail, detail
            assert metric(first, "stampede_bridge_peer_reports_total", outcome="ok") > 0
            await flowing(second, "trades via the second bridge")
        # The second said "stopped" on its way out: the first takes the feed without waiting
        # for a holder timeout, and nobody is evicted on the way.
        await wait_for(lambda: first.feed.authenticated, timeout=5, what="the first took over")
        await flowing(first, "trades via the first bridge again")
        assert sim_disconnects(sim, "max_connections") == 1
        assert first.link.to_wire()["faults"] == {"max_connections": 1}
