"""Honest live state (issue 23): the gateway reads its replica while the replica keeps up, and
the primary while the replica is stalled, resyncing or behind; /readyz, the metrics, every
heartbeat and the page say which, and why.

The replica is stalled for real (SIGSTOP, as a replica busy loading a full resync or starved of
CPU would be) while a market keeps moving on the primary."""

from __future__ import annotations

import asyncio
import os
import signal
import time
from collections import deque
from collections.abc import AsyncIterator
from pathlib import Path

import httpx
import pytest
import redis.asyncio as aioredis

from stampede.gateway.readsource import RECOVER_S, judge, replica_lag
from stampede.tools import localstack
from support.browser import TICKERS, DemoMarket, chromium
from support.gateway import running_gateway


def test_the_lag_is_how_long_ago_the_primary_held_what_the_replica_holds_now() -> None:
    samples = deque([(10.0, 100), (10.5, 180), (11.0, 250), (11.5, 400)])
    assert replica_lag(samples, 11.6, 400) == 0.0  # everything the newest sample saw
    assert replica_lag(samples, 11.6, 260) == pytest.approx(0.6)  # what the primary held at 11.0
    assert replica_lag(samples, 11.6, 100) == pytest.approx(1.6)
    assert replica_lag(samples, 11.6, 50) == pytest.approx(1.6)  # older than the window: at least
    assert replica_lag(deque(), 11.6, 0) == 0.0


def test_a_replica_is_usable_only_in_sync_and_within_the_lag() -> None:
    linked = {"role": "slave", "master_link_status": "up", "master_sync_in_progress": 0}
    assert judge(linked, 0.3, 2.0).usable
    assert judge(linked, 2.5, 2.0).condition == "behind"
    assert judge({**linked, "master_sync_in_progress": 1}, 0.0, 2.0).condition == "resyncing"
    assert judge({**linked, "master_link_status": "down"}, None, 2.0).condition == "link down"
    assert judge(None, None, 2.0).condition == "unreachable"
    assert judge({"role": "master"}, None, 2.0).usable  # promoted: nothing to lag behind


@pytest.fixture
async def stores(tmp_path: Path) -> AsyncIterator[tuple[localstack.RedisServer, ...]]:
    primary = localstack.redis_server(tmp_path).start()
    replica = localstack.redis_server(tmp_path, replica_of=primary).start()
    try:
        yield primary, replica
    finally:
        os.kill(replica.pid, signal.SIGCONT)
        replica.stop()
        primary.stop()


async def until(condition, timeout: float = 20.0, what: str = "") -> None:
    deadline = time.monotonic() + timeout
    while not await condition():
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        await asyncio.sleep(0.1)


@pytest.mark.browser
async def test_a_stalled_replica_sends_reads_to_the_primary_and_the_page_says_so(stores) -> None:
    primary, replica = stores
    writer = aioredis.from_url(primary.url)
    market = DemoMarket(writer)
    await market.write(TICKERS)
    moving = True

    async def keep_moving() -> None:  # the functions keep writing the primary meanwhile
        while moving:
            await market.move()
            await asyncio.sleep(0.2)

    mover = asyncio.create_task(keep_moving())
    port = localstack.free_port()
    try:
        async with (
            running_gateway(
                primary.url, port=port, gateway_redis_read_url=replica.url, gateway_stale_seconds=30
            ) as gw,
            chromium() as browser,
            httpx.AsyncClient(base_url=gw.url, timeout=10) as http,
        ):
            source = gw.hub.source

            async def reading(where: str) -> bool:
                return source.reading == where

            async def ready_text() -> str:
                answer = await http.get("/readyz")
                assert answer.status_code == 200, answer.text  # the gateway still serves
                return answer.text

            page = await browser.new_page()
            await page.goto(gw.url + "/")
            await page.wait_for_selector('.board[data-board="gainers"] tbody tr')
            await page.wait_for_function("() => document.body.dataset.reads === 'replica'")
            assert "reading the replica (replica: in sync" in await ready_text()

            os.kill(replica.pid, signal.SIGSTOP)  # the replica stops answering
            await until(lambda: reading("primary"), what="reads to move to the primary")
            assert "reading the primary (replica: unreachable" in await ready_text()
            metrics = (await http.get("/metrics")).text
            assert "stampede_gateway_reading_primary 1.0" in metrics
            # the page says where its boards come from, and they stay live from the primary
            await page.wait_for_function("() => document.body.dataset.reads === 'primary'")
            assert "primary (replica unreachable" in await page.locator("#reads").inner_text()
            await page.wait_for_function(
                "() => document.body.dataset.data === 'live'", timeout=15_000
            )

            os.kill(replica.pid, signal.SIGCONT)  # back, and kept up for RECOVER_S
            await until(
                lambda: reading("replica"), timeout=RECOVER_S + 15, what="reads back on the replica"
            )
            assert "reading the replica (replica: in sync" in await ready_text()
            await page.wait_for_function("() => document.body.dataset.reads === 'replica'")
    finally:
        moving = False
        await mover
        await writer.aclose()
