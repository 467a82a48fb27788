"""Helpers for the simulator's tests: a raw Massive-speaking client over real sockets."""

from __future__ import annotations

import asyncio
import json

import msgspec
import pytest
import websockets
from websockets.asyncio.client import ClientConnection, connect

DAY = "2025-03-14"  # a Friday, a full session


async def recv_json(ws: ClientConnection, timeout: float = 10.0) -> list[dict]:
    import asyncio

    return json.loads(await asyncio.wait_for(ws.recv(), timeout))


async def open_session(
    ws_url: str, api_key: str, subscribe: str | None = None, **kwargs
) -> ClientConnection:
    """Connect, authenticate and (optionally) subscribe, checking each status answer."""
    ws = await connect(ws_url, **kwargs)
    assert await recv_json(ws) == [
        {"ev": "status", "status": "connected", "message": "Connected Successfully"}
    ]
    await ws.send(json.dumps({"action": "auth", "params": api_key}))
    assert await recv_json(ws) == [
        {"ev": "status", "status": "auth_success", "message": "authenticated"}
    ]
    if subscribe:
        await ws.send(json.dumps({"action": "subscribe", "params": subscribe}))
        for topic in subscribe.split(","):
            assert await recv_json(ws) == [
                {"ev": "status", "status": "success", "message": f"subscribed to: {topic}"}
            ]
    return ws


@pytest.fixture
def day() -> str:
    return DAY


async def collect_bars(ws_url: str, api_key: str, seconds: float) -> list[bytes]:
    """Raw A frames read from the simulator's WebSocket for a while, until unsubscribed."""
    frames: list[bytes] = []
    async with websockets.connect(ws_url) as ws:
        await ws.recv()  # connected
        await ws.send(json.dumps({"action": "auth", "params": api_key}))
        assert "auth_success" in await ws.recv()
        await ws.send(json.dumps({"action": "subscribe", "params": "A.*"}))
        loop = asyncio.get_running_loop()
        deadline = loop.time() + seconds
        unsubscribed = False
        while True:
            frame = await asyncio.wait_for(ws.recv(), 10)
            if '"ev":"status"' in frame and "unsubscribed" in frame:
                break
            if '"ev":"A"' in frame:
                items = [i for i in msgspec.json.decode(frame) if i.get("ev") == "A"]
                frames.append(msgspec.json.encode(items))
            if not unsubscribed and loop.time() > deadline:
                await ws.send(json.dumps({"action": "unsubscribe", "params": "A.*"}))
                unsubscribed = True
    return frames
