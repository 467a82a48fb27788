"""Outside market hours the bridge lets go of the feed and still answers /readyz sensibly."""

from __future__ import annotations

import asyncio
from datetime import datetime

from stampede.markettime import ET
from stampede.tools import localstack
from support.bridge import bridge_settings, metric, running_bridge

SATURDAY_NOON = datetime(2025, 11, 29, 12, 0, tzinfo=ET)


async def test_idle_by_schedule_is_ready_and_holds_no_connection(nats_url: str) -> None:
    # Nothing listens on this port: any connection attempt would be counted as a reconnect.
    ws_url = f"ws://127.0.0.1:{localstack.free_port()}/stocks"
    settings = bridge_settings(nats_url, ws_url, "k", bridge_market_hours_only=True)
    async with running_bridge(settings, clock=lambda: SATURDAY_NOON) as bridge:
        ready, detail = await bridge.readiness()
        assert ready
        assert "idle by schedule" in detail and "2025-12-01T04:00:00-05:00" in detail
        await asyncio.sleep(0.3)
        assert metric(bridge, "stampede_bridge_feed_idle") == 1
        assert metric(bridge, "stampede_bridge_feed_connected") == 0
        assert (
            sum(
                metric(bridge, "stampede_bridge_reconnects_total", reason=r)
                for r in ("connect_failed", "connection_lost")
            )
            == 0
        )


async def test_without_nats_it_is_not_ready_and_still_stops_promptly() -> None:
    nats_url = f"nats://127.0.0.1:{localstack.free_port()}"  # nothing there
    settings = bridge_settings(nats_url, "ws://127.0.0.1:9/stocks", "k")
    async with running_bridge(settings, wait_ready=False) as bridge:
        await asyncio.sleep(0.5)
        assert await bridge.readiness() == (False, "NATS JetStream not connected")
        assert metric(bridge, "stampede_bridge_feed_connected") == 0
    # leaving the block stopped it (running_bridge waits at most 20 s)
