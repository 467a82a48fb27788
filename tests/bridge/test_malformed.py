"""Hostile frames never stop the bridge; good items in the same frame are still published.

The simulator only sends well-formed frames, so this test runs a tiny WebSocket server that
speaks Massive's handshake and then sends bad frames (the one place a stand-in is used).
"""

from __future__ import annotations

import json

from websockets.asyncio.server import ServerConnection, serve

from stampede.market import Channel
from support.bridge import bridge_settings, metric, read_stream, running_bridge, wait_for

GOOD_TRADE = {"ev": "T", "sym": "MSFT", "p": 114.125, "s": 100, "t": 1536036818784, "q": 1}
HOSTILE_FRAMES = [
    b'[{"ev":"T","sym":"MSFT",',  # truncated JSON
    b'{"ev":"T","sym":"MSFT"}',  # not an array
    b"\xff\xfe garbage",  # not even UTF-8
    json.dumps([{"ev": "ZZZ", "sym": "X"}, {**GOOD_TRADE, "q": 2}]).encode(),  # unknown ev + good
    json.dumps([{**GOOD_TRADE, "p": "free"}, {**GOOD_TRADE, "q": 3}]).encode(),  # wrong type + good
    json.dumps(
        [{"ev": "T", "sym": "MSFT"}, {**GOOD_TRADE, "q": 4}]
    ).encode(),  # missing fields + good
    json.dumps([{"ev": "A", "sym": 5}]).encode(),  # wrong type only
    # a runaway price: this one event is dropped, not its frame (a function would reject the batch)
    json.dumps([{**GOOD_TRADE, "p": 1.5e21}, {**GOOD_TRADE, "q": 5}]).encode(),
    json.dumps([{**GOOD_TRADE, "q": 6}]).encode(),  # the bridge is still publishing
]


async def hostile_feed(ws: ServerConnection) -> None:
    await ws.send(
        json.dumps([{"ev": "status", "status": "connected", "message": "Connected Successfully"}])
    )
    auth = json.loads(await ws.recv())
    assert auth == {"action": "auth", "params": "test-key"}
    await ws.send(
        json.dumps([{"ev": "status", "status": "auth_success", "message": "authenticated"}])
    )
    subscribe = json.loads(await ws.recv())
    assert subscribe["action"] == "subscribe"
    for frame in HOSTILE_FRAMES:
        await ws.send(frame)  # bytes go out as binary frames, like a broken server might
    await ws.wait_closed()


async def test_malformed_frames_are_counted_and_good_items_published(nats_url: str) -> None:
    async with serve(hostile_feed, "127.0.0.1", 0) as server:
        port = server.sockets[0].getsockname()[1]
        settings = bridge_settings(nats_url, f"ws://127.0.0.1:{port}/stocks", "test-key")
        async with running_bridge(settings) as bridge:
            await wait_for(
                lambda: (
                    metric(bridge, "stampede_bridge_cloudevents_published_total", channel="T") >= 5
                ),
                what="the good trades",
            )
            published = await read_stream(nats_url, Channel.TRADE)
            assert sorted(item["q"] for p in published for item in p.items) == [2, 3, 4, 5, 6]
            assert all(p.items[0]["p"] == 114.125 for p in published)
            assert (
                metric(bridge, "stampede_bridge_dropped_frames_total", reason="invalid_json") == 2
            )
            assert metric(bridge, "stampede_bridge_dropped_frames_total", reason="not_array") == 1
            assert metric(bridge, "stampede_bridge_dropped_events_total", reason="unknown_ev") == 1
            assert (
                metric(bridge, "stampede_bridge_dropped_events_total", reason="invalid_event") == 4
            )
            assert metric(bridge, "stampede_bridge_frames_received_total") == len(HOSTILE_FRAMES)
            assert (await bridge.readiness())[0]
            assert metric(bridge, "stampede_bridge_reconnects_total", reason="server_closed") == 0
