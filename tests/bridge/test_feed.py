"""The bridge against the real simulator and a real nats-server.

Covers the whole contract: every event sent arrives on JetStream with the same values,
reconnect + resubscribe after drops and forced disconnects, eviction by a second connection,
and a NATS restart in the middle of the stream (memory streams are re-created).
"""

from __future__ import annotations

import asyncio
import collections
import json
from pathlib import Path

import msgspec
import nats
import pytest
from websockets.asyncio.client import connect

from stampede.events import MARKET_EVENT_TYPES
from stampede.market import EVENT_TYPES, Channel, Status, decode_frame
from stampede.sim.testing import running_simulator
from stampede.subjects import stream_name
from stampede.tools import localstack
from support.bridge import bridge_settings, metric, read_stream, running_bridge, wait_for

ALL_CHANNELS = [ch for ch in Channel]
SIM = {"start": "09:30:00", "symbols": 200, "seed": 3, "history_days": 2}


def _key(event: object) -> str:
    return json.dumps(msgspec.to_builtins(event), sort_keys=True)


def recorded_events(path: Path) -> collections.Counter:
    sent: collections.Counter = collections.Counter()
    for line in path.read_bytes().splitlines():
        for item in decode_frame(json.dumps(json.loads(line)["frame"])):
            if not isinstance(item, Status):
                sent[_key(item)] += 1
    return sent


async def settled(bridge) -> None:
    """Wait until the bridge has read, published and had acknowledged everything it got."""
    last = -1.0
    while True:
        frames = metric(bridge, "stampede_bridge_frames_received_total")
        if frames == last and len(bridge.queue) == 0 and bridge.publisher.pending() == 0:
            return
        last = frames
        await asyncio.sleep(0.5)


@pytest.mark.parametrize("mode", ["binary", "structured"])
async def test_every_sent_event_arrives_with_the_same_values(
    nats_url: str, tmp_path: Path, mode: str
) -> None:
    record = tmp_path / "sent.jsonl"
    async with running_simulator(**SIM, speed=2, record=str(record)) as sim:
        ws_url = sim.ws_url
        settings = bridge_settings(
            nats_url, sim.ws_url, sim.api_key, bridge_content_mode=mode, bridge_shards=2
        )
        async with running_bridge(settings) as bridge:
            await wait_for(
                lambda: metric(bridge, "stampede_bridge_events_total", channel="A") > 0,
                what="aggregates",
            )
            await wait_for(
                lambda: metric(bridge, "stampede_bridge_frames_received_total") >= 8, what="frames"
            )
            await sim.pause_feed()
            await asyncio.wait_for(settled(bridge), 30)
            assert metric(bridge, "stampede_bridge_dropped_events_total", reason="stale") == 0
            assert metric(bridge, "stampede_bridge_dropped_frames_total", reason="queue_full") == 0
            duplicates = metric(bridge, "stampede_bridge_duplicates_total")
    sent = recorded_events(record)
    assert sum(sent.values()) > 100

    received: collections.Counter = collections.Counter()
    seen_ids: set[str] = set()
    for channel in ALL_CHANNELS:
        for published in await read_stream(nats_url, channel):
            event = published.event
            assert published.channel is channel
            assert event.get_type() == MARKET_EVENT_TYPES[channel]
            assert event.get_source() == ws_url
            assert event.get_extension("traceparent").startswith("00-")
            assert published.subject.startswith(f"stampede.stocks.{channel.value}.")
            assert published.headers["Nats-Msg-Id"] == event.get_id()
            assert event.get_id() not in seen_ids
            seen_ids.add(event.get_id())
            for item in msgspec.convert(published.items, list[EVENT_TYPES[channel]]):
                received[_key(item)] += 1
    assert duplicates == 0
    assert received == sent


@pytest.mark.parametrize(
    ("cut", "reason"),
    [
        ("drop", "connection_lost"),
        ("force_disconnect", "force_disconnect"),
        ("slow_consumer", "slow_consumer"),
    ],
)
async def test_reconnects_and_resubscribes_after_the_server_cuts_it_off(
    nats_url: str, cut: str, reason: str
) -> None:
    async with running_simulator(**SIM, speed=1) as sim:
        settings = bridge_settings(
            nats_url, sim.ws_url, sim.api_key, massive_subscriptions="A.*,T.*"
        )
        async with running_bridge(settings) as bridge:
            published = "stampede_bridge_published_events_total"
            await wait_for(lambda: metric(bridge, published, channel="T") > 0, what="trades")
            cut_off = sim.drop_connections() if cut == "drop" else sim.disconnect_all(cut, "test")
            assert cut_off == 1
            await wait_for(
                lambda: metric(bridge, "stampede_bridge_reconnects_total", reason=reason) == 1,
                what=f"reconnect counted as {reason}",
            )
            await wait_for(lambda: bridge.feed.authenticated, what="re-authenticated")
            before = metric(bridge, published, channel="T")
            await wait_for(
                lambda: metric(bridge, published, channel="T") > before,
                what="trades after reconnect",
            )
            [client] = sim.clients
            assert (
                client.subs.get(Channel.AGGREGATE) is not None
                and client.subs.get(Channel.TRADE) is not None
            )
            if cut != "drop":
                assert metric(bridge, "stampede_bridge_feed_statuses_total", status=cut) == 1
            assert (await bridge.readiness())[0]


async def test_eviction_by_a_second_connection_backs_off_then_takes_the_feed_back(
    nats_url: str,
) -> None:
    async with running_simulator(**SIM, speed=1) as sim:
        settings = bridge_settings(nats_url, sim.ws_url, sim.api_key, bridge_evicted_backoff=1.5)
        async with running_bridge(settings) as bridge:
            async with connect(sim.ws_url) as other:
                assert json.loads(await other.recv())[0]["status"] == "connected"
                await other.send(json.dumps({"action": "auth", "params": sim.api_key}))
                assert json.loads(await other.recv())[0]["status"] == "auth_success"
                await wait_for(
                    lambda: (
                        metric(bridge, "stampede_bridge_reconnects_total", reason="max_connections")
                        == 1
                    ),
                    what="eviction noticed",
                )
                ready, detail = await bridge.readiness()
                assert not ready and "max_connections" in detail
                # The bridge waits out its eviction backoff, then reconnects and evicts `other`.
                statuses = []
                async for frame in other:
                    statuses += [
                        item["status"] for item in json.loads(frame) if item.get("ev") == "status"
                    ]
                assert statuses[-1] == "max_connections"
            await wait_for(lambda: bridge.feed.authenticated, what="feed taken back")
            assert metric(bridge, "stampede_bridge_reconnects_total", reason="max_connections") == 1


@pytest.mark.parametrize(
    ("queue_size", "dropped", "reason"),
    [
        (5, "stampede_bridge_dropped_frames_total", "queue_full"),  # oldest frames go first
        (5000, "stampede_bridge_dropped_events_total", "stale"),  # trades aged out (max age 1 s)
    ],
)
async def test_nats_restart_mid_stream_recreates_streams_and_resumes(
    tmp_path: Path, queue_size: int, dropped: str, reason: str
) -> None:
    server = localstack.nats_server(tmp_path).start()
    try:
        async with running_simulator(**SIM, speed=1) as sim:
            settings = bridge_settings(
                server.url,
                sim.ws_url,
                sim.api_key,
                massive_subscriptions="A.*,T.*",
                bridge_ack_timeout=1.0,
                bridge_queue_size=queue_size,
                bridge_max_age_t=1.0,
            )
            async with running_bridge(settings) as bridge:
                published = "stampede_bridge_published_events_total"
                await wait_for(lambda: metric(bridge, published, channel="T") > 0, what="trades")
                await asyncio.to_thread(server.stop)
                await wait_for(
                    lambda: metric(bridge, "stampede_bridge_nats_connected") == 0,
                    what="outage seen",
                )
                assert not (await bridge.readiness())[0]
                await asyncio.sleep(1.5)  # the feed keeps flowing into the queue meanwhile
                await asyncio.to_thread(server.start)
                await wait_for(
                    lambda: metric(bridge, "stampede_bridge_nats_connected") == 1,
                    timeout=30,
                    what="streams re-declared",
                )
                before = metric(bridge, published, channel="T")
                await wait_for(
                    lambda: metric(bridge, published, channel="T") > before,
                    what="publishing resumed",
                )
                nc = await nats.connect(server.url)
                try:
                    info = await nc.jetstream().stream_info(stream_name(Channel.TRADE))
                    assert info.state.last_seq > 0  # re-created, then written to
                    assert info.config.max_age == settings.bridge_max_age_t
                finally:
                    await nc.close()
                assert (await bridge.readiness())[0]
                await wait_for(lambda: metric(bridge, dropped, reason=reason) > 0, what=reason)
                # The feed was never touched by the NATS outage.
                assert (
                    sum(
                        s.value
                        for m in bridge.metrics.reconnects.collect()
                        for s in m.samples
                        if s.name.endswith("_total")
                    )
                    == 0
                )
    finally:
        server.stop()
