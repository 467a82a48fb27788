"""The WebSocket protocol end to end: real Redis, real gateway, real sockets."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path

import httpx
import jsonschema
import orjson
import pytest
import redis.asyncio as aioredis
import websockets

from stampede.gateway import metrics
from support.gateway import (
    DAY,
    Market,
    ReferenceClient,
    Subscription,
    running_gateway,
)

SCHEMA = json.loads(
    (Path(__file__).resolve().parents[2] / "schemas" / "gateway-ws.v1.json").read_text()
)


def validate(message: dict) -> None:
    jsonschema.validate(message, {**SCHEMA, "$ref": "#/$defs/ServerMessage"})


@pytest.fixture
async def redis(redis_url):
    client = aioredis.from_url(redis_url)
    yield client
    await client.aclose()


async def fresh_view(url: str, board: str, limit: int, **filters: float) -> list[dict]:
    async with ReferenceClient.connect(url) as fresh:
        await fresh.subscribe("fresh", board, limit, **filters)
        await fresh.until(lambda m: m["type"] == "snapshot")
        return fresh.subs["fresh"].view


async def test_snapshot_plus_diffs_equals_a_fresh_snapshot_through_a_burst(redis, redis_url):
    market = Market(redis)
    await market.step(changes=30, removes=0)
    async with running_gateway(redis_url) as gw, ReferenceClient.connect(gw.ws_url) as client:
        await client.until(lambda m: m["type"] == "hello")
        await client.subscribe("top", "gainers", 15)
        await client.subscribe("cheap", "gainers", 10, min_price=1, max_price=20, min_volume=20_000)
        await client.subscribe("vol", "volume", 25)
        await client.until(lambda m: m["type"] == "snapshot" and m["id"] == "vol")
        for _ in range(150):
            await market.step(changes=6, removes=1)
            await asyncio.sleep(0.003)
        await client.drain(0.6)
        for message in client.messages:
            validate(message)
        assert sum(s.diffs for s in client.subs.values()) > 20
        assert all(s.snapshots == ["initial"] for s in client.subs.values())
        assert client.subs["top"].view == await fresh_view(gw.ws_url, "gainers", 15)
        assert client.subs["cheap"].view == await fresh_view(
            gw.ws_url, "gainers", 10, min_price=1, max_price=20, min_volume=20_000
        )
        assert client.subs["vol"].view == await fresh_view(gw.ws_url, "volume", 25)
        cheap = client.subs["cheap"].view
        assert cheap and all(1 <= r["last"] <= 20 and r["volume"] >= 20_000 for r in cheap)
        # ...and equal to REST, which reads Redis itself
        async with httpx.AsyncClient(base_url=gw.url) as http:
            rest = (await http.get("/api/boards/gainers", params={"limit": 15})).json()
        assert rest["rows"] == client.subs["top"].view
        ranked = [r["change_pct"] for r in rest["rows"]]
        assert ranked == sorted(ranked, reverse=True)


async def test_diffs_carry_event_times_and_consecutive_seqs(redis, redis_url):
    market = Market(redis)
    await market.step(changes=10, removes=0)
    async with running_gateway(redis_url) as gw, ReferenceClient.connect(gw.ws_url) as client:
        await client.subscribe("g", "gainers", 10)
        snap = await client.until(lambda m: m["type"] == "snapshot")
        changed_before = metrics.CHANGED_ROWS._value.get()
        await market.step(changes=10, removes=0)
        d = await client.until(lambda m: m["type"] == "diff")
        assert d["seq"] == snap["seq"] + 1
        # the rows the diff touched are counted (the bench's gateway cost per changed row)
        touched = len(d["removed"]) + len(d["added"]) + len(d["moved"]) + len(d["changed"])
        assert touched and metrics.CHANGED_ROWS._value.get() >= changed_before + touched
        assert d["exchange_ms"] == market.t and d["day"] == DAY and d["board"] == "gainers"
        assert d["received_ms"] > 0 and d["tick_ms"] >= d["received_ms"] - 5_000
        beat = await client.until(lambda m: m["type"] == "heartbeat")
        assert (
            beat["feed"]["exchange_ms"] == market.t
            and beat["boards"]["gainers"]["exchange_ms"] == market.t
        )
        validate(beat)


async def test_reads_are_shared_by_all_clients_on_a_board(redis, redis_url):
    market = Market(redis)
    await market.step(changes=40, removes=0)
    async with running_gateway(redis_url) as gw:

        async def watcher(i: int) -> ReferenceClient:
            async with ReferenceClient.connect(gw.ws_url) as c:
                await c.subscribe("g", "gainers", 10)
                await c.until(lambda m: m["type"] == "snapshot")
                await started.wait()
                await c.drain(0.8)
                return c

        started = asyncio.Event()
        watchers = [asyncio.create_task(watcher(i)) for i in range(20)]
        while len(gw.hub.clients) < 20 or any(f.view is None for f in gw.hub.feeds.values()):
            await asyncio.sleep(0.02)
        ticks0, reads0 = gw.hub.ticks, gw.hub.redis_reads
        started.set()
        for _ in range(20):
            await market.step(boards=("gainers",), changes=5, removes=0)
            await asyncio.sleep(0.06)
        clients = await asyncio.gather(*watchers)
        ticks, reads = gw.hub.ticks - ticks0, gw.hub.redis_reads - reads0
        assert ticks >= 3
        # one ZRANGE + at most `limit` HMGETs per tick, whatever the number of clients
        assert reads <= ticks * (1 + 10)
        views = [c.subs["g"].view for c in clients]
        assert all(v == views[0] for v in views)
        assert len(gw.hub.feeds) == 0  # all gone: nothing left to read


async def test_slow_client_gets_a_fresh_snapshot_instead_of_a_backlog(redis, redis_url):
    market = Market(redis, symbols=150)
    await market.step(changes=150, removes=0)
    async with running_gateway(redis_url) as gw:
        limit = gw.settings.gateway_client_queue_bytes
        # A client that stops reading (websockets stops reading the socket once 16 frames wait);
        # 32 subscriptions of 100 rows fill the kernel's socket buffers within seconds.
        stalled = await websockets.connect(gw.ws_url, max_size=None, max_queue=16)
        for k in range(32):
            await stalled.send(
                orjson.dumps(
                    {"type": "subscribe", "id": f"g{k}", "board": "gainers", "limit": 100}
                ).decode()
            )
        async with ReferenceClient.connect(gw.ws_url) as healthy:
            await healthy.subscribe("g", "gainers", 100)
            await healthy.until(lambda m: m["type"] == "snapshot")
            before = metrics.SNAPSHOTS_SENT.labels("slow_client")._value.get()
            for _ in range(600):
                await market.step(changes=60, removes=2)
                await asyncio.sleep(0.02)
                if any(c.resets >= 2 for c in gw.hub.clients):
                    break
            [slow] = [c for c in gw.hub.clients if c.resets]
            assert (
                slow.queued_bytes < 2 * limit
            )  # bounded: the limit + one snapshot per subscription
            await healthy.drain(0.5)
            assert healthy.subs["g"].snapshots == ["initial"]  # the healthy one was not held up
            assert healthy.subs["g"].view == await fresh_view(gw.ws_url, "gainers", 100)
            # the stalled client reads again: its stream is consistent and ends current
            reader = ReferenceClient(stalled)
            reader.subs = {f"g{k}": Subscription() for k in range(32)}
            await reader.drain(1.0)
            assert metrics.SNAPSHOTS_SENT.labels("slow_client")._value.get() > before
            for sub in reader.subs.values():
                assert "slow_client" in sub.snapshots
                assert sub.view == healthy.subs["g"].view
        await stalled.close()
