"""Helpers for the simulator's tests: a raw Massive-speaking client over real sockets."""

from __future__ import annotations

import json

import pytest
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
