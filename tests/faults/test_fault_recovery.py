"""Crash tests: `kill -9` one process mid-stream, restart only that one, and the scanner heals.

One pipeline for the module (every component its own process, exactly as `stampede up` starts
them, on a private nats-server and redis-server). The simulated day starts at 19:58:15 ET, so
the feed can run for a minute and a half of wall time (the start-up of ~14 processes takes
30-60 s of it on a loaded machine) before it goes quiet by itself at 20:00; while it
runs, the tests crash, in this order, redis-server, nats-server, the feed bridge, one function
replica (momentum: the trades function, whose writes are additive) and the gateway. Each crash
is SIGKILL (no shutdown hook), the restart is the same command on the same port, and nothing
else is touched: the bridge must reconnect to NATS and re-declare its memory streams, the
dispatcher must re-bind its consumers and retry what the functions answered 503 (Redis down)
or could not answer (function down), the functions must reconnect to Redis, and a gateway
client must be able to reconnect and get a fresh snapshot.

What "converges" means, and what is lost on purpose:

- Redis runs without persistence locally, so a `kill -9` loses every board AND the day's
  reference data. Boards rebuild from the next events; the cumulative fields (`av` = volume,
  last price) come back with each symbol's next bar. Reference data does NOT come back by
  itself: the cluster's PingSource fires only at 03:xx ET, so until someone re-fires the load,
  gainers/losers/gappers/rvol cannot rank. The test re-fires it once after the Redis restart
  (the one manual step, and it is not a process restart) - see docs/testing.md.
- Events in flight while a process is down are lost, not replayed: memory streams vanish with
  nats-server, the bridge drops what it cannot publish in time, the dispatcher dead-letters
  what a dead function refused `retry` times. That is the design (fresh over complete).
- So once 300 symbols printed a bar AFTER the last crash was repaired, the feed is stopped
  (``/_sim/feed/stop``, rather than waiting for 20:00), and every one of them must be exactly
  what the simulator sent (`/_sim/truth`): row last/volume/change and its rank on the gainers,
  losers and volume boards among those symbols.
- Nothing is counted twice: the momentum function adds up trades per symbol and second
  (count and dollar volume) in Redis. Every second's count must be at most the number of
  distinct trades the bridge published for it (a recorder subscribes to `stampede.stocks.T.>`
  on core NATS and de-duplicates by CloudEvent id), whatever crashed; and once everything is
  healthy again it must be exactly equal (nothing lost either).
"""

from __future__ import annotations

import asyncio
import time
from collections import Counter
from collections.abc import AsyncIterator

import pytest

from stampede import keys
from support.convergence import (
    assert_converged,
    feed_stopped_after,
    flowing,
    momentum_counts,
    redis_of,
    traded_since,
    until,
)
from support.gateway import ReferenceClient
from support.pipeline import Pipeline, running_pipeline
from support.recorder import TradeRecorder

pytestmark = pytest.mark.slow

START = "19:58:15"
SEED = 23


@pytest.fixture(scope="module")
async def pipeline(tmp_path_factory: pytest.TempPathFactory) -> AsyncIterator[Pipeline]:
    workdir = tmp_path_factory.mktemp("faults")
    async with running_pipeline(workdir, start=START, seed=SEED) as p:
        yield p


async def test_pipeline_is_flowing(pipeline: Pipeline, recorder: TradeRecorder) -> None:
    for function in ("movers", "momentum"):
        await flowing(pipeline, function)
    day = pipeline.truth(limit=1)["day"]
    assert await asyncio.to_thread(lambda: redis_of(pipeline).zcard(keys.board(day, "volume"))) > 0


async def test_redis_crash(pipeline: Pipeline, facts: dict) -> None:
    """Functions answer 503 while Redis is gone, the dispatcher naks and retries, writes resume."""
    dispatch_before = await asyncio.to_thread(pipeline.metrics, "dispatch")
    await asyncio.to_thread(pipeline.crash, "redis-server")
    await asyncio.sleep(1.5)
    movers = await asyncio.to_thread(pipeline.metrics, "function-movers")
    await asyncio.to_thread(pipeline.restart, "redis-server")
    await asyncio.to_thread(pipeline.reload_reference_data)  # see the module docstring
    await flowing(pipeline, "movers")
    await flowing(pipeline, "momentum")
    dispatch_after = await asyncio.to_thread(pipeline.metrics, "dispatch")
    assert (
        movers.value("stampede_function_batches_total", outcome="error")
        + movers.value(
            "http_server_request_duration_seconds_count", http_response_status_code="503"
        )
        > 0
    )
    naks = "stampede_dispatch_deliveries_total"
    assert dispatch_after.value(naks, outcome="nak") > dispatch_before.value(naks, outcome="nak")
    for name in (
        "function-movers",
        "function-momentum",
        "function-halts",
        "gateway",
        "dispatch",
        "bridge",
    ):
        assert pipeline.process(name).running, f"{name} died with Redis"
    facts["redis_restarted_ms"] = int(time.time() * 1000)


async def test_nats_crash(pipeline: Pipeline) -> None:
    """The bridge reconnects and re-declares its memory streams; the dispatcher re-binds."""
    await asyncio.to_thread(pipeline.crash, "nats-server")
    await asyncio.sleep(1.0)
    await asyncio.to_thread(pipeline.restart, "nats-server")
    await until(
        lambda: pipeline.metrics("bridge").value("stampede_bridge_nats_connected") == 1,
        30,
        "bridge reconnected to NATS",
    )
    await flowing(pipeline, "movers")
    await flowing(pipeline, "momentum")
    bound = await asyncio.to_thread(
        lambda: pipeline.metrics("dispatch").by("stampede_dispatch_consumer_bound", "trigger")
    )
    assert bound.get("movers") == 1 and bound.get("momentum") == 1, bound
    for name in ("bridge", "dispatch", "function-movers"):
        assert pipeline.process(name).running, f"{name} died with NATS"


async def test_bridge_crash(pipeline: Pipeline) -> None:
    """A new bridge process logs in again (one connection per key) and publishes."""
    old = pipeline.pid("bridge")
    await asyncio.to_thread(pipeline.crash, "bridge")
    await asyncio.to_thread(pipeline.restart, "bridge")
    assert pipeline.pid("bridge") != old
    await until(
        lambda: pipeline.metrics("bridge").value("stampede_bridge_cloudevents_published_total") > 0,
        30,
        "the new bridge publishing",
    )
    await flowing(pipeline, "movers")


async def test_function_replica_crash(pipeline: Pipeline) -> None:
    """Killed mid-request: the dispatcher retries (or dead-letters), nothing is applied twice."""
    await asyncio.to_thread(pipeline.crash, "function-momentum")
    await asyncio.sleep(0.5)
    await asyncio.to_thread(pipeline.restart, "function-momentum")
    await flowing(pipeline, "momentum")
    dispatch = await asyncio.to_thread(pipeline.metrics, "dispatch")
    failed = sum(
        dispatch.value("stampede_dispatch_deliveries_total", trigger="momentum", outcome=o)
        for o in ("nak", "dlq")
    )
    assert failed > 0, "the dispatcher never noticed the dead function"


async def test_gateway_crash(pipeline: Pipeline, facts: dict) -> None:
    """A client's socket drops with the gateway; reconnecting gives a snapshot of the live board."""
    ws_url = pipeline.gateway_url.replace("http://", "ws://") + "/ws"
    async with ReferenceClient.connect(ws_url) as client:
        await client.subscribe("v", "volume", limit=10)
        await client.until(lambda m: m["type"] == "snapshot")
        await asyncio.to_thread(pipeline.crash, "gateway")
        with pytest.raises(Exception):  # noqa: B017 - any close/reset of the socket will do
            while True:
                await client.receive(timeout=5)
    await asyncio.to_thread(pipeline.restart, "gateway")
    async with ReferenceClient.connect(ws_url) as client:
        await client.subscribe("v", "volume", limit=10)
        snapshot = await client.until(lambda m: m["type"] == "snapshot")
        assert snapshot["rows"], "empty volume board after the gateway restart"
    facts["healthy_truth"] = await asyncio.to_thread(pipeline.truth, 0)
    facts["healthy_ms"] = int(time.time() * 1000)


async def test_boards_converge_to_truth(pipeline: Pipeline, facts: dict) -> None:
    if "healthy_truth" not in facts:
        pytest.skip("the crash sequence did not finish")
    final = await feed_stopped_after(pipeline, facts["healthy_truth"])
    repaired = traded_since(final, facts["healthy_truth"])
    assert len(repaired) >= 10, (
        f"only {len(repaired)} symbols traded after the crashes; start earlier"
    )
    await assert_converged(pipeline, final, repaired)
    print(f"{len(repaired)} of {len(final['symbols'])} symbols printed a bar after the crashes")


async def test_no_trade_counted_twice(
    pipeline: Pipeline, recorder: TradeRecorder, facts: dict
) -> None:
    if "healthy_ms" not in facts:
        pytest.skip("the crash sequence did not finish")
    await asyncio.to_thread(pipeline.wait_for_feed_end)
    await asyncio.sleep(3)  # let the last deliveries land
    day = pipeline.truth(limit=1)["day"]
    per_second, per_minute, kept = await asyncio.to_thread(momentum_counts, pipeline, day)
    published = recorder.eligible_counts()
    published_per_minute: Counter[tuple[str, int]] = Counter()
    for (sym, second), n in published.items():
        published_per_minute[(sym, second // 60)] += n
    # Wall clock -> simulated exchange clock (speed 1: a constant offset).
    first_recorded = (recorder.started_ms + pipeline.sim_offset_ms) // 1000 + 2
    healthy = (facts["healthy_ms"] + pipeline.sim_offset_ms) // 1000 + 2
    assert per_second and per_minute, "no momentum state in Redis"
    twice = {
        k: (n, published[k])
        for k, n in per_second.items()
        if k[1] >= first_recorded and n > published[k]
    } | {
        k: (n, published_per_minute[k])
        for k, n in per_minute.items()
        if k[1] * 60 >= first_recorded and n > published_per_minute[k]
    }
    assert twice == {}, "trades counted more often than they were published"
    checked = [k for k in published if k[1] >= max(healthy, kept.get(k[0], healthy))]
    lost = {k: (per_second[k], published[k]) for k in checked if per_second[k] != published[k]}
    assert lost == {}, "trades published after recovery but not counted"
    assert checked, "no trades after the crashes"
    momentum = await asyncio.to_thread(pipeline.metrics, "function-momentum")
    print(
        f"duplicates skipped by the restarted momentum replica: "
        f"{momentum.value('stampede_function_dropped_total', reason='duplicate'):.0f}; "
        f"recorded {len(recorder.by_id)} trade CloudEvents ({recorder.copies} copies), "
        f"{sum(published.values())} eligible trades, {len(checked)} symbol-seconds checked for equality"
    )
