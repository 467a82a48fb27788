"""The scanner on a 3-node JetStream cluster: one node is killed mid-stream and it carries on.

One pipeline for the module, started as ``stampede up --nats-cluster 3`` runs it: three
nats-server processes with routes, the market streams and the DLQ with 3 replicas (see
docs/deploy.md for why), and every other component as usual. The simulated day starts at
19:58:25 ET, so the feed can run for about 95 s of wall time before it goes quiet at 20:00;
it is stopped (``/_sim/feed/stop``) once 300 symbols printed a bar after the kill.

While it runs, the node the bridge is connected to, made leader of the trade stream first, is
killed with SIGKILL and stays dead. Nothing is restarted: the bridge must fail over to another
node and re-send what it had in flight, the dispatcher must carry on, and the streams elect
new leaders from their replicas. Then:

- every symbol that printed a bar after the kill ends equal to the simulator's truth, rows and
  boards alike;
- nothing was lost without being counted: every trade CloudEvent the bridge put on the wire
  (recorded on core NATS) was applied by ``momentum`` (its seen-key is in Redis), or is
  accounted for by a counter - the bridge gave it up past its max age, the stream dropped it by
  max age before the dispatcher got it, the dispatcher dead-lettered it, or momentum shed it as
  stale (older than ``FUNCTION_MAX_EVENT_AGE_SECONDS`` when it came: freshness first).
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator

import httpx
import nats
import pytest
from nats.js.api import StorageType

from stampede import keys
from stampede.metricnames import (
    DISPATCH_CONSUMER_ACK_PENDING,
    DISPATCH_CONSUMER_PENDING,
    DISPATCH_DELIVERIES,
    DISPATCH_EXPIRED,
    DISPATCH_INFLIGHT,
    FUNCTION_DROPPED,
)
from stampede.subjects import DLQ_STREAM, NEWS_STREAM
from stampede.tools import localstack
from support.convergence import (
    assert_converged,
    feed_stopped_after,
    flowing,
    redis_of,
    traded_since,
    until,
)
from support.pipeline import Pipeline, running_pipeline
from support.recorder import TradeRecorder

pytestmark = pytest.mark.slow

START = "19:58:25"
SEED = 31
TRADES = "STOCKS_T"


@pytest.fixture(scope="module")
async def pipeline(tmp_path_factory: pytest.TempPathFactory) -> AsyncIterator[Pipeline]:
    workdir = tmp_path_factory.mktemp("nats-cluster")
    cluster = ("--nats-cluster", "3")
    async with running_pipeline(workdir, start=START, seed=SEED, up_args=cluster) as p:
        yield p


def _node_of_client(cluster: localstack.NatsCluster, client: str) -> str:
    """The node a named client (``stampede-bridge``) is connected to, from each node's /connz."""
    for node, monitor in zip(cluster.nodes, cluster.monitor_ports, strict=True):
        connz = httpx.get(f"http://{node.host}:{monitor}/connz", timeout=5).json()
        if any(c.get("name") == client for c in connz["connections"] or []):
            return node.name
    raise AssertionError(f"{client} is connected to no node")


async def _move_leader(urls: str, stream: str, node: str) -> None:
    """Ask the stream's leader to step down in favour of ``node`` (JetStream placement)."""
    nc = await nats.connect(urls.split(","), connect_timeout=2)
    try:
        request = json.dumps({"placement": {"preferred": node}}).encode()
        await nc.request(f"$JS.API.STREAM.LEADER.STEPDOWN.{stream}", request, timeout=5)
    finally:
        await nc.close()


async def _stream_leader(urls: str, stream: str) -> str:
    """The node leading ``stream`` ("" during an election)."""
    nc = await nats.connect(urls.split(","), connect_timeout=2)
    try:
        info = await nc.jetstream().stream_info(stream)
        return (info.cluster.leader if info.cluster else None) or ""
    finally:
        await nc.close()


async def test_streams_are_replicated(pipeline: Pipeline, recorder: TradeRecorder) -> None:
    nc = await nats.connect(pipeline.nats_url.split(","))
    try:
        js = nc.jetstream()
        for info in await js.streams_info():
            config = info.config
            durable = (DLQ_STREAM, NEWS_STREAM)  # people read these: kept on file, not memory
            want = StorageType.FILE if config.name in durable else StorageType.MEMORY
            assert (config.num_replicas, config.storage) == (3, want), config.name
            assert info.cluster is not None and len(info.cluster.replicas or []) == 2
    finally:
        await nc.close()
    for function in ("movers", "momentum"):
        await flowing(pipeline, function)


async def test_node_killed_mid_stream(pipeline: Pipeline, facts: dict) -> None:
    """kill -9 of the bridge's node, leading the trade stream; nothing is restarted."""
    cluster = pipeline.scanner.nats
    assert isinstance(cluster, localstack.NatsCluster)
    victim = await asyncio.to_thread(_node_of_client, cluster, "stampede-bridge")
    if await _stream_leader(pipeline.nats_url, TRADES) != victim:
        await _move_leader(pipeline.nats_url, TRADES, victim)
    await until(
        lambda: asyncio.run(_stream_leader(pipeline.nats_url, TRADES)) == victim,
        30,
        f"{victim} leading {TRADES}",
    )
    await flowing(pipeline, "momentum")
    await asyncio.to_thread(pipeline.crash, victim)
    alive = ",".join(n.url for n in cluster.nodes if n.running)  # type: ignore[attr-defined]
    new_leader = await until(
        lambda: asyncio.run(_stream_leader(alive, TRADES)), 30, "a new trade stream leader"
    )
    assert new_leader != victim
    await flowing(pipeline, "momentum")
    await flowing(pipeline, "movers")
    await until(
        lambda: pipeline.metrics("bridge").value("stampede_bridge_nats_connected") == 1,
        30,
        "bridge publishing through the surviving nodes",
    )
    for name in ("bridge", "dispatch", "function-momentum", "function-movers", "gateway"):
        assert pipeline.process(name).running, f"{name} died with a NATS node"
    bound = await asyncio.to_thread(
        lambda: pipeline.metrics("dispatch").by("stampede_dispatch_consumer_bound", "trigger")
    )
    assert bound.get("movers") == 1 and bound.get("momentum") == 1, bound
    facts["healthy_truth"] = await asyncio.to_thread(pipeline.truth, 0)


async def test_boards_equal_truth(pipeline: Pipeline, facts: dict) -> None:
    if "healthy_truth" not in facts:
        pytest.skip("the node kill did not finish")
    final = await feed_stopped_after(pipeline, facts["healthy_truth"])
    facts["final"] = final
    traded = traded_since(final, facts["healthy_truth"])
    assert len(traded) >= 10, f"only {len(traded)} symbols traded after the kill"
    await assert_converged(pipeline, final, traded)


async def test_every_loss_is_counted(
    pipeline: Pipeline, recorder: TradeRecorder, facts: dict
) -> None:
    if "final" not in facts:
        pytest.skip("the feed did not end")
    await until(lambda: _momentum_drained(pipeline), 60, "the trade stream drained")
    r = redis_of(pipeline)
    applied = {
        key.rsplit(":seen:", 1)[1]
        for key in await asyncio.to_thread(
            lambda: list(r.scan_iter(f"{keys.PREFIX}:*:seen:*", count=1000))
        )
    }
    lost = set(recorder.by_id) - applied
    bridge = await asyncio.to_thread(pipeline.metrics, "bridge")
    dispatch = await asyncio.to_thread(pipeline.metrics, "dispatch")
    given_up = bridge.value("stampede_bridge_publish_errors_total")
    expired = dispatch.value(DISPATCH_EXPIRED, trigger="momentum")
    dead = dispatch.value(DISPATCH_DELIVERIES, trigger="momentum", outcome="dlq")
    momentum = await asyncio.to_thread(pipeline.metrics, "function-momentum")
    stale = momentum.value(FUNCTION_DROPPED, function="momentum", reason="stale")
    print(
        f"{len(recorder.by_id)} trade CloudEvents on the wire, {len(lost)} not applied; "
        f"bridge gave up {given_up:.0f}, stream expired {expired:.0f}, dead-lettered {dead:.0f}, "
        f"shed stale by momentum {stale:.0f}, "
        f"bridge retries {bridge.value('stampede_bridge_publish_retries_total'):.0f}, "
        f"given up by reason {bridge.by('stampede_bridge_publish_errors_total', 'reason')}"
    )
    assert len(recorder.by_id) > 100
    assert len(lost) <= given_up + expired + dead + stale, "trade CloudEvents lost without a count"


def _momentum_drained(p: Pipeline) -> bool:
    """Nothing of the trade stream is left for momentum: none pending, none in flight (not a
    fixed pause: on a busy machine deliveries can still be on their way after it)."""
    dispatch = p.metrics("dispatch")
    return all(
        dispatch.value(gauge, trigger="momentum") == 0
        for gauge in (
            DISPATCH_CONSUMER_PENDING,
            DISPATCH_CONSUMER_ACK_PENDING,
            DISPATCH_INFLIGHT,
        )
    )
