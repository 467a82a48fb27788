"""Bridge test helpers: run a Bridge in-process, read CloudEvents back from JetStream."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from dataclasses import dataclass

import msgspec
import nats
from nats.js.api import AckPolicy, ConsumerConfig, DeliverPolicy

from stampede import nats_binding
from stampede.bridge.bridge import Bridge
from stampede.bridge.settings import BridgeSettings
from stampede.events import CHANNEL_OF_TYPE, RawJSONFormat
from stampede.market import Channel
from stampede.subjects import stream_name


def bridge_settings(
    nats_url: str, ws_url: str, api_key: str, **overrides: object
) -> BridgeSettings:
    values: dict[str, object] = {
        "nats_url": nats_url,
        "massive_ws_url": ws_url,
        "massive_api_key": api_key,
        "bridge_market_hours_only": False,
        "bridge_backoff_initial": 0.05,
        "bridge_backoff_max": 0.5,
        # bridges hear each other within a fraction of a second (see stampede.bridge.claims)
        "bridge_status_interval": 0.2,
        "bridge_holder_timeout": 2.0,
        # generous ages: tests on a busy 2-core machine must not drop for staleness
        "bridge_max_age_a": 120,
        "bridge_max_age_t": 120,
        "bridge_max_age_q": 120,
        "massive_subscriptions": "A.*,AM.*,T.*,Q.*,LULD.*,NOI.*",
        # the news poller reads REST: off unless a test points it at a simulator
        "bridge_news": False,
    }
    values.update(overrides)
    return BridgeSettings(**values)


async def wait_for(
    predicate, timeout: float = 20.0, interval: float = 0.05, what: str = "condition"
) -> None:
    deadline = asyncio.get_running_loop().time() + timeout
    while not await _maybe_await(predicate()):
        if asyncio.get_running_loop().time() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        await asyncio.sleep(interval)


async def _maybe_await(value):
    if asyncio.iscoroutine(value):
        return await value
    return value


@contextlib.asynccontextmanager
async def running_bridge(
    settings: BridgeSettings, wait_ready: bool = True, **kwargs: object
) -> AsyncIterator[Bridge]:
    bridge = Bridge(settings, **kwargs)
    task = asyncio.create_task(bridge.run())
    try:
        if wait_ready:
            await wait_for(lambda: _ready(bridge, task), what="bridge ready")
        yield bridge
    finally:
        bridge.stop()
        await asyncio.wait_for(task, 20)


async def _ready(bridge: Bridge, task: asyncio.Task) -> bool:
    if task.done():
        task.result()  # surface the failure
    return (await bridge.readiness())[0]


def metric(bridge: Bridge, name: str, **labels: str) -> float:
    return bridge.metrics.registry.get_sample_value(name, labels) or 0.0


@dataclass
class Published:
    subject: str
    headers: dict[str, str]
    event: object  # the CloudEvent decoded by the binding
    channel: Channel
    items: list[dict]


async def read_stream(
    nats_url: str, channel: Channel, expect: int | None = None, timeout: float = 10.0
) -> list[Published]:
    """Every CloudEvent stored in a channel's stream, decoded (binary or structured)."""
    nc = await nats.connect(nats_url)
    try:
        js = nc.jetstream()
        info = await js.stream_info(stream_name(channel))
        total = info.state.messages if expect is None else expect
        out: list[Published] = []
        if total == 0:
            return out
        sub = await js.pull_subscribe(
            "",
            stream=stream_name(channel),
            config=ConsumerConfig(deliver_policy=DeliverPolicy.ALL, ack_policy=AckPolicy.NONE),
        )
        deadline = asyncio.get_running_loop().time() + timeout
        while len(out) < total and asyncio.get_running_loop().time() < deadline:
            try:
                msgs = await sub.fetch(min(500, total - len(out)), timeout=1)
            except nats.errors.TimeoutError:
                continue
            for msg in msgs:
                out.append(decode(msg.subject, msg.headers or {}, msg.data))
        return out
    finally:
        await nc.close()


def decode(subject: str, headers: dict[str, str], payload: bytes) -> Published:
    message = nats_binding.NATSMessage(headers=headers, payload=payload)
    if nats_binding.is_structured(headers):
        from cloudevents.core.formats.json import JSONFormat

        event = nats_binding.from_nats(message, JSONFormat())
        items = event.get_data()
    else:
        event = nats_binding.from_nats(message, RawJSONFormat())
        items = msgspec.json.decode(event.get_data())
    return Published(subject, headers, event, CHANNEL_OF_TYPE[event.get_type()], items)
