"""Feed faults beyond kill -9, through the open, on the whole scanner: healed, counted, shown.

One pipeline for the module, started exactly as `stampede up` starts it, with the simulated
day at 09:29:40 ET (2,000 tickers) so the faults hit the opening burst. Each fault is switched
on in the simulator over HTTP (``/_sim/faults/...``), nothing is restarted by hand, and each
must be (1) recovered from by the bridge alone (boards move again), (2) counted by kind in the
bridge's metrics and (3) shown in the feed link every gateway heartbeat carries to the
dashboard. In order:

- ``slow_consumer`` and ``force_disconnect`` in the middle of the opening burst;
- the connection going silent without a close (only the ping timeout can tell);
- a reconnect storm: the feed refuses connections for 30 s; retries back off with jitter
  (bounded attempts, no hot loop) and the feed is back within the backoff cap after it;
- a second bridge with the same key evicts the first (``max_connections``), which stands by
  instead of evicting it back (no ping-pong), and takes the feed again when the second dies.

Then the feed is stopped and every symbol that printed a bar after the last fault has exactly
the simulator's truth on its row and on the gainers, losers and volume boards
(``support.convergence``). Short timeouts come from the environment (pings 0.5/1 s, backoff
0.2-3 s, bridge reports every 0.2 s) so the module takes about a minute and a half.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest

from stampede.tools import promscrape
from support.convergence import assert_converged, flowing, traded_since, until
from support.feedlink import heard_feed_link
from support.gateway import ReferenceClient
from support.pipeline import Pipeline, running_pipeline

pytestmark = pytest.mark.slow

START = "09:29:40"
SEED = 31
REFUSE_S = 30.0
ENV = {
    "SIM_SYMBOLS": "2000",
    "BRIDGE_PING_INTERVAL": "0.5",
    "BRIDGE_PING_TIMEOUT": "1",
    "BRIDGE_BACKOFF_INITIAL": "0.2",
    "BRIDGE_BACKOFF_MAX": "3",
    "BRIDGE_STATUS_INTERVAL": "0.2",
    "BRIDGE_HOLDER_TIMEOUT": "2",
    "BRIDGE_EVICTED_BACKOFF": "0.5",
    "BRIDGE_EVICTED_BACKOFF_MAX": "2",
    "GATEWAY_HEARTBEAT_SECONDS": "0.5",
}
RECONNECTS = "stampede_bridge_reconnects_total"


@pytest.fixture(scope="module")
async def pipeline(tmp_path_factory: pytest.TempPathFactory) -> AsyncIterator[Pipeline]:
    workdir = tmp_path_factory.mktemp("feed-faults")
    async with running_pipeline(workdir, start=START, seed=SEED, env=ENV) as p:
        yield p


def reconnects(p: Pipeline, reason: str, bridge: str = "bridge") -> float:
    return p.metrics(bridge).value(RECONNECTS, reason=reason)


def sim_metric(p: Pipeline, name: str, **labels: str) -> float:
    return promscrape.scrape(f"{p.sim_url}/metrics", timeout=5.0).value(name, **labels)


def sim_clock_et(p: Pipeline) -> str:
    return httpx.get(f"{p.sim_url}/_sim/clock", timeout=5).json()["et"]


async def link_shows(p: Pipeline, predicate, timeout: float = 20.0) -> dict[str, Any]:
    """The feed link as the dashboard gets it: the next gateway heartbeat that satisfies it."""
    ws_url = p.gateway_url.replace("http://", "ws://") + "/ws"
    async with ReferenceClient.connect(ws_url) as client:
        return await heard_feed_link(client, predicate, timeout)


async def healed(p: Pipeline, reason: str, count: int = 1) -> dict[str, Any]:
    """Counted once more as ``reason``, connected again, boards moving, and shown so."""
    await until(lambda: reconnects(p, reason) >= count, 20, f"{reason} counted")
    await until(
        lambda: p.metrics("bridge").value("stampede_bridge_feed_connected") == 1,
        20,
        f"the feed back after {reason}",
    )
    await flowing(p, "movers")
    return await link_shows(
        p, lambda link: link["state"] == "connected" and link["faults"].get(reason, 0) >= count
    )


async def test_the_open_is_flowing(pipeline: Pipeline) -> None:
    await until(lambda: sim_clock_et(pipeline) >= "09:30:02", 60, "the opening bell")
    for function in ("movers", "momentum"):
        await flowing(pipeline, function)
    link = await link_shows(pipeline, lambda link: link["state"] == "connected")
    assert link["faults_total"] == 0, link


@pytest.mark.parametrize("status", ["slow_consumer", "force_disconnect"])
async def test_cut_off_in_the_middle_of_the_opening_burst(pipeline: Pipeline, status: str) -> None:
    clock = await asyncio.to_thread(sim_clock_et, pipeline)
    answer = await asyncio.to_thread(pipeline.sim_control, "faults/disconnect", status=status)
    assert answer == {"disconnected": 1, "status": status}
    link = await healed(pipeline, status)
    bridge = await asyncio.to_thread(pipeline.metrics, "bridge")
    assert bridge.value("stampede_bridge_feed_statuses_total", status=status) == 1
    print(f"{status} at {clock} ET healed; feed link {link}")


async def test_a_connection_gone_silent_is_replaced(pipeline: Pipeline) -> None:
    assert await asyncio.to_thread(pipeline.sim_control, "faults/hang") == {"hung": 1}
    link = await healed(pipeline, "ping_timeout")
    assert link["reason"].startswith("ping_timeout"), link
    state = await asyncio.to_thread(pipeline.sim_control, "faults")
    assert state["hung"] == 0 and state["connections"] == 1, state


async def test_a_reconnect_storm_backs_off_and_heals(pipeline: Pipeline) -> None:
    before = await asyncio.to_thread(pipeline.metrics, "bridge")
    refused_before = await asyncio.to_thread(
        sim_metric, pipeline, "stampede_sim_refused_connections_total"
    )
    await asyncio.to_thread(pipeline.sim_control, "faults/refuse", seconds=REFUSE_S)
    started = time.monotonic()
    await asyncio.to_thread(pipeline.sim_control, "faults/drop")
    link = await link_shows(pipeline, lambda link: link["reason"].startswith("connect_failed"))
    assert link["state"] in ("backoff", "connecting"), link
    await asyncio.sleep(max(0.0, REFUSE_S - (time.monotonic() - started)))
    await until(
        lambda: pipeline.metrics("bridge").value("stampede_bridge_feed_connected") == 1,
        3 + 10,  # the backoff cap, and a loaded machine
        "the feed back after the storm",
    )
    back_after = time.monotonic() - started - REFUSE_S
    after = await asyncio.to_thread(pipeline.metrics, "bridge")
    attempts = after.value("stampede_bridge_connect_attempts_total") - before.value(
        "stampede_bridge_connect_attempts_total"
    )
    refused = (
        await asyncio.to_thread(sim_metric, pipeline, "stampede_sim_refused_connections_total")
        - refused_before
    )
    # 0.1-0.2, 0.2-0.4, ... then 1.5-3 s apart: about 15 tries in 30 s; a hot loop makes 1000s.
    assert 8 <= refused <= 30, refused
    assert attempts == refused + 1, (attempts, refused)
    failed = after.value(RECONNECTS, reason="connect_failed") - before.value(
        RECONNECTS, reason="connect_failed"
    )
    assert failed == refused
    print(
        f"{REFUSE_S:.0f}s storm: {refused:.0f} refused attempts, feed back {back_after:.1f}s after"
    )
    await flowing(pipeline, "movers")
    link = await link_shows(pipeline, lambda link: link["state"] == "connected")
    assert link["faults"]["connect_failed"] == after.value(RECONNECTS, reason="connect_failed")
    assert link["faults"]["connection_lost"] >= 1, link  # the drop that started the storm


async def test_a_second_bridge_with_the_key_is_not_evicted_back(
    pipeline: Pipeline, facts: dict[str, Any]
) -> None:
    evicted_before = await asyncio.to_thread(
        sim_metric, pipeline, "stampede_sim_disconnects_total", reason="max_connections"
    )
    second = await asyncio.to_thread(pipeline.launch_copy, "bridge", "bridge-2")
    try:
        await asyncio.to_thread(second.wait_ready, 60)
        link = await link_shows(pipeline, lambda link: link["state"] == "standby")
        assert link["holder"], link
        assert link["faults"]["max_connections"] == 1, link
        await flowing(pipeline, "movers")  # the second bridge feeds the same NATS
        await asyncio.sleep(4)  # 2 holder timeouts, 2 longest eviction waits: a loop would show
        evictions = await asyncio.to_thread(
            sim_metric, pipeline, "stampede_sim_disconnects_total", reason="max_connections"
        )
        assert evictions - evicted_before == 1
        assert await asyncio.to_thread(reconnects, pipeline, "max_connections") == 1
        second_metrics = promscrape.scrape(f"{second.url}/metrics", timeout=5.0)
        assert second_metrics.value(RECONNECTS) == 0
        assert second_metrics.value("stampede_bridge_feed_connected") == 1
        readyz = await asyncio.to_thread(
            httpx.get, f"{pipeline.process('bridge').url}/readyz", timeout=5
        )
        assert readyz.status_code == 503 and link["holder"] in readyz.json()["detail"]
    finally:
        await asyncio.to_thread(second.kill)  # no clean stop: it never says "stopped"
    await until(
        lambda: pipeline.metrics("bridge").value("stampede_bridge_feed_connected") == 1,
        15,
        "the first bridge taking the feed back from a dead holder",
    )
    await flowing(pipeline, "movers")
    await link_shows(pipeline, lambda link: link["state"] == "connected")
    facts["healthy_truth"] = await asyncio.to_thread(pipeline.truth, 0)


async def test_boards_converge_to_truth(pipeline: Pipeline, facts: dict[str, Any]) -> None:
    if "healthy_truth" not in facts:
        pytest.skip("the fault sequence did not finish")
    await asyncio.sleep(3)  # a few seconds of bars after the last recovery
    await asyncio.to_thread(pipeline.sim_control, "feed/stop")
    final = await asyncio.to_thread(pipeline.wait_for_feed_end, 30)
    symbols = traded_since(final, facts["healthy_truth"])
    assert len(symbols) >= 50, f"only {len(symbols)} symbols traded after the faults"
    await assert_converged(pipeline, final, symbols)
    print(f"{len(symbols)} of {len(final['symbols'])} symbols printed a bar after the faults")
