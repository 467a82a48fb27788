"""The WebSocket protocol as Massive speaks it, over real sockets."""

from __future__ import annotations

import asyncio
import json

import pytest
from websockets.asyncio.client import connect
from websockets.exceptions import ConnectionClosed, ConnectionClosedError

from stampede.sim.testing import running_simulator
from support.sim import DAY, open_session, recv_json


def status(kind: str, message: str) -> list[dict]:
    return [{"ev": "status", "status": kind, "message": message}]


async def read_until_closed(ws, timeout: float = 20.0) -> list[dict]:
    """Everything the server sends until it closes the connection."""
    items: list[dict] = []
    try:
        async with asyncio.timeout(timeout):
            async for raw in ws:
                items.extend(json.loads(raw))
    except ConnectionClosed:
        pass
    return items


async def test_auth_failure_malformed_messages_and_order() -> None:
    async with (
        running_simulator(date=DAY, start="10:00", symbols=100) as sim,
        connect(sim.ws_url) as ws,
    ):
        assert await recv_json(ws) == status("connected", "Connected Successfully")
        await ws.send(json.dumps({"action": "subscribe", "params": "A.*"}))
        assert await recv_json(ws) == status("error", "not authorized")
        for bad in ("{not json", "[1,2]", '"auth"'):
            await ws.send(bad)
            assert await recv_json(ws) == status("error", "Invalid JSON")
        await ws.send(json.dumps({"action": "auth", "params": "wrong-key"}))
        assert await recv_json(ws) == status("auth_failed", "authentication failed")
        with pytest.raises(ConnectionClosed):
            await recv_json(ws)
        assert ws.close_code == 1008


async def test_auth_timeout() -> None:
    async with (
        running_simulator(date=DAY, start="10:00", symbols=100, auth_timeout=0.3) as sim,
        connect(sim.ws_url) as ws,
    ):
        assert await recv_json(ws) == status("connected", "Connected Successfully")
        assert await recv_json(ws) == status("auth_timeout", "No authentication request received.")
        with pytest.raises(ConnectionClosed):
            await recv_json(ws)


async def test_subscription_filtering_and_unsubscribe() -> None:
    async with running_simulator(date=DAY, start="10:00", speed=3, symbols=300, seed=2) as sim:
        ws = await open_session(sim.ws_url, sim.api_key, "A.AAPL,T.SPY,T.MSFT,A.SPY")
        seen: set[tuple[str, str]] = set()
        async with asyncio.timeout(30):
            while {("A", "AAPL"), ("T", "SPY"), ("T", "MSFT"), ("A", "SPY")} - seen:
                for ev in await recv_json(ws):
                    seen.add((ev["ev"], ev["sym"]))
        assert seen == {("A", "AAPL"), ("T", "SPY"), ("T", "MSFT"), ("A", "SPY")}

        await ws.send(json.dumps({"action": "unsubscribe", "params": "T.SPY,T.MSFT,A.SPY"}))
        after: list[dict] = []
        acks = 0
        async with asyncio.timeout(30):
            while acks < 3 or len([e for e in after if e["ev"] == "A"]) < 3:
                for ev in await recv_json(ws):
                    if ev["ev"] == "status":
                        assert ev["status"] == "success" and ev["message"].startswith(
                            "unsubscribed to: "
                        )
                        acks += 1
                    elif acks == 3:
                        after.append(ev)
        assert {(e["ev"], e["sym"]) for e in after} == {("A", "AAPL")}
        await ws.close()


async def test_second_connection_evicts_the_first() -> None:
    async with running_simulator(date=DAY, start="10:00", speed=2, symbols=200) as sim:
        first = await open_session(sim.ws_url, sim.api_key, "A.*")
        second = await open_session(sim.ws_url, sim.api_key, "A.*")
        items = await read_until_closed(first)
        assert items[-1] == {
            "ev": "status",
            "status": "max_connections",
            "message": "Maximum number of connections exceeded.",
        }
        assert first.close_code == 1000
        frame = await recv_json(second)  # the newer connection keeps the feed
        assert frame and all(ev["ev"] == "A" for ev in frame)
        await second.close()


async def test_slow_consumer_is_cut_off() -> None:
    async with running_simulator(
        date=DAY, start="10:00", symbols=1000, rate=40_000, slow_consumer_bytes=2_000_000
    ) as sim:
        ws = await open_session(sim.ws_url, sim.api_key, "A.*,T.*", max_queue=1)
        await asyncio.sleep(3)  # read nothing: kernel and server buffers fill up
        items = await read_until_closed(ws, timeout=30)
        assert items[-1]["ev"] == "status" and items[-1]["status"] == "slow_consumer"
        assert len(items) > 1000  # it was sent a lot before being cut off
        assert (
            sim.metrics.registry.get_sample_value(
                "stampede_sim_disconnects_total", {"reason": "slow_consumer"}
            )
            == 1
        )
        # the next connection gets the feed again
        again = await open_session(sim.ws_url, sim.api_key, "A.*")
        assert (await recv_json(again))[0]["ev"] == "A"
        await again.close()


async def test_dropped_and_forced_disconnects() -> None:
    async with running_simulator(date=DAY, start="10:00", symbols=100) as sim:
        ws = await open_session(sim.ws_url, sim.api_key, "A.*")
        assert sim.drop_connections() == 1
        with pytest.raises(ConnectionClosedError):
            async with asyncio.timeout(10):
                async for _ in ws:
                    pass
        ws = await open_session(sim.ws_url, sim.api_key, "A.*")
        assert sim.disconnect_all() == 1
        items = await read_until_closed(ws)
        assert items[-1] == {
            "ev": "status",
            "status": "force_disconnect",
            "message": "Forced disconnect.",
        }
