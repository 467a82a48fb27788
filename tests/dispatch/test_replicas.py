"""A Trigger's deliveries spread over its subscriber's replicas as Knative spreads them: by
requests in flight, at most ``containerConcurrency`` on one replica (dispatch/balance.py)."""

from __future__ import annotations

import asyncio
import contextlib
from pathlib import Path

import yaml

from stampede.dispatch.balance import Replicas
from stampede.dispatch.settings import DispatchSettings
from stampede.market import Channel
from support.dispatch import (
    Subscriber,
    all_bound,
    eventually,
    jetstream,
    market_stream,
    metric,
    publish,
    running_dispatcher,
    serve_subscriber,
    write_triggers,
)

FUNCTIONS = Path(__file__).resolve().parents[2] / "manifests" / "base" / "functions"
TRADES = {"name": "momentum", "type": "dev.stampede.stocks.trade.v1", "subscriber": "momentum"}


async def test_the_least_busy_replica_with_room_takes_the_next_request() -> None:
    replicas = Replicas(["a", "b", "c"], limit=2)
    held = contextlib.AsyncExitStack()
    picks = [await held.enter_async_context(replicas.acquire()) for _ in range(6)]
    assert sorted(picks) == ["a", "a", "b", "b", "c", "c"]  # spread, never 3 on one
    waiting = asyncio.ensure_future(replicas.acquire().__aenter__())
    await asyncio.sleep(0.05)
    assert not waiting.done()  # every replica at its limit: the request waits
    await held.aclose()
    assert await waiting in ("a", "b", "c")
    assert replicas.inflight.count(1) == 1 and sum(replicas.inflight) == 1


async def test_a_replica_busy_for_long_gets_fewer_requests_than_round_robin_would_give() -> None:
    replicas = Replicas(["slow", "fast"], limit=4)
    taken = {"slow": 0, "fast": 0}

    async def request() -> None:
        async with replicas.acquire() as url:
            taken[url] += 1
            await asyncio.sleep(0.05 if url == "slow" else 0.005)

    await asyncio.gather(*(request() for _ in range(200)))
    assert taken["fast"] > 3 * taken["slow"], taken  # round-robin: 100 / 100
    assert replicas.inflight == [0, 0] and sum(replicas.delivered) == 200


async def test_the_dispatcher_spreads_one_trigger_over_replicas_by_requests_in_flight(
    nats_url: str, tmp_path: Path
) -> None:
    triggers = write_triggers(tmp_path / "t.yaml", [TRADES])
    async with (
        jetstream(nats_url) as js,
        serve_subscriber(Subscriber(delay=0.2)) as slow,
        serve_subscriber(Subscriber(delay=0.005)) as fast,
    ):
        await js.add_stream(market_stream(Channel.TRADE))
        urls = {"momentum": f"{slow.url}|{fast.url}"}
        async with running_dispatcher(
            nats_url, triggers, urls, dispatch_replica_concurrency=3
        ) as dispatcher:
            await all_bound(dispatcher)
            (worker,) = dispatcher.workers
            peak = [0, 0]

            async def watch() -> None:
                while True:
                    peak[:] = [max(p, n) for p, n in zip(peak, worker.replicas.inflight)]
                    await asyncio.sleep(0)

            watcher = asyncio.create_task(watch())
            await publish(js, Channel.TRADE, 120)

            def shares() -> list[float]:
                return [
                    metric(
                        dispatcher,
                        "stampede_dispatch_replica_deliveries_total",
                        trigger="momentum",
                        replica=f"{s.url}/",
                    )
                    for s in (slow, fast)
                ]

            await eventually(lambda: sum(shares()) == 120, 30, "120 deliveries answered")
            watcher.cancel()
    assert shares() == [len(slow.received), len(fast.received)]
    assert len(fast.received) > 3 * len(slow.received)  # by in flight, not turns
    assert max(peak) <= 3  # containerConcurrency held on each replica


def test_the_local_limit_per_replica_is_the_knative_services_container_concurrency() -> None:
    default = DispatchSettings.model_fields["dispatch_replica_concurrency"].default
    for function in ("movers", "momentum", "bars", "halts", "news"):
        service = yaml.safe_load((FUNCTIONS / f"{function}.yaml").read_text())
        assert service["spec"]["template"]["spec"]["containerConcurrency"] == default, function
