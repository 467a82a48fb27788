"""The gateway reading from a Redis replica (`GATEWAY_REDIS_READ_URL`), writes on the primary."""

from __future__ import annotations

import asyncio

import httpx
import pytest
import redis.asyncio as aioredis

from stampede.gateway.store import BoardReader
from stampede.tools import localstack
from support.gateway import DAY, Market, ReferenceClient, running_gateway


@pytest.fixture
def primary_and_replica(tmp_path):
    primary = localstack.redis_server(tmp_path).start()
    replica = localstack.redis_server(tmp_path, replica_of=primary).start()
    yield primary, replica
    replica.stop()
    primary.stop()


async def until_ready(http: httpx.AsyncClient, ready: bool, timeout: float = 15.0) -> str:
    deadline = asyncio.get_running_loop().time() + timeout
    while True:
        answer = await http.get("/readyz")
        if (answer.status_code == 200) == ready:
            return answer.text
        assert asyncio.get_running_loop().time() < deadline, answer.text
        await asyncio.sleep(0.1)


async def replica_caught_up(primary: aioredis.Redis, replica: aioredis.Redis) -> None:
    """Until the replica has applied what the primary had (a first snapshot read too early is
    empty and the rows then arrive as diffs, which is right but not what this test waits for)."""
    wanted = await primary.dbsize()
    try:
        for _ in range(100):
            if await replica.dbsize() >= wanted:
                return
            await asyncio.sleep(0.05)
        raise TimeoutError("the replica did not catch up in 5 s")
    finally:
        await replica.aclose()


async def test_boards_and_notices_come_through_the_replica(primary_and_replica):
    primary, replica = primary_and_replica
    writer = aioredis.from_url(primary.url)
    market = Market(writer, symbols=80)
    try:
        async with (
            running_gateway(primary.url, gateway_redis_read_url=replica.url) as gw,
            httpx.AsyncClient(base_url=gw.url) as http,
        ):
            await until_ready(http, True)
            await market.step(changes=80, removes=0)
            await replica_caught_up(writer, aioredis.from_url(replica.url))
            async with ReferenceClient.connect(gw.ws_url) as client:
                await client.subscribe("g", "gainers", 20)
                await client.until(lambda m: m["type"] == "snapshot" and m["rows"])
                for _ in range(40):
                    await market.step(changes=10, removes=1)
                    await asyncio.sleep(0.01)
                await client.drain(0.6)
                assert client.subs["g"].diffs > 5
                # what the client holds is what the primary holds, read there directly
                on_primary = aioredis.from_url(primary.url, decode_responses=True)
                truth = (await BoardReader(on_primary).read(DAY, {"gainers": 20})).boards
                await on_primary.aclose()
                assert client.subs["g"].view == truth["gainers"]
                rest = (await http.get("/api/boards/gainers")).json()
                assert rest["rows"] == truth["gainers"]

            primary.stop()  # the replica keeps serving, but its boards would stop moving
            assert "replica" in await until_ready(http, False)
            primary.start()
            await until_ready(http, True)
    finally:
        await writer.aclose()
