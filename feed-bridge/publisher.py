"""JetStream side: streams in place, asynchronous publishing with a bounded window.

``js.publish`` waits for each ack (a round trip per message, ~500 msg/s); ``publish_async``
returns a future instead and bounds un-acked publishes with a semaphore. nats-py never times
those futures out, so a reaper cancels the ones older than the ack timeout: a NATS outage
then frees the window instead of wedging the bridge, and the lost batches are counted.

Memory streams vanish when nats-server restarts, so the streams are (re)declared after every
(re)connect before publishing resumes; until then ``ready`` is clear and the publisher waits.

A publish that fails (NATS node lost, stream leader being elected, ack timeout) is sent again
once the streams are back, with the same CloudEvent id (JetStream's duplicate window stores it
once), for as long as its events are younger than their channel's max age; only then is it
given up and counted. So a node loss in a cluster costs at most what ``max_age`` drops anyway.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections import deque
from dataclasses import dataclass

import nats
import nats.errors
import nats.js.errors
from nats.aio.client import Client as NATS
from nats.js import JetStreamContext
from nats.js.api import DiscardPolicy, PubAck, RetentionPolicy, StorageType, StreamConfig

from stampede import bus
from stampede.bridge.envelope import OutboundMessage
from stampede.bridge.metrics import BridgeMetrics
from stampede.bridge.settings import BridgeSettings
from stampede.market import Channel
from stampede.subjects import stream_name, stream_subjects

log = logging.getLogger(__name__)

REAP_INTERVAL = 0.25
RETRY_PAUSE = 0.2  # seconds before a failed publish is sent again (after the streams are back)


@dataclass(slots=True)
class InFlight:
    deadline: float
    future: asyncio.Future[PubAck]


def channel_stream(settings: BridgeSettings, channel: Channel) -> StreamConfig:
    """A channel's stream: in memory, old messages age out or are discarded first."""
    max_age = settings.max_age(channel)
    return StreamConfig(
        name=stream_name(channel),
        subjects=stream_subjects(channel),
        storage=StorageType.MEMORY,
        retention=RetentionPolicy.LIMITS,
        discard=DiscardPolicy.OLD,
        max_age=max_age,
        max_bytes=settings.bridge_stream_max_bytes,
        duplicate_window=min(max_age, settings.bridge_duplicate_window),
        num_replicas=settings.bridge_stream_replicas,
    )


class Publisher:
    def __init__(self, settings: BridgeSettings, metrics: BridgeMetrics) -> None:
        self.settings = settings
        self.metrics = metrics
        self.ready = asyncio.Event()  # connected and streams declared
        self.extra_streams: list[StreamConfig] = []  # declared with the channel streams
        self.nc: NATS | None = None
        self.js: JetStreamContext | None = None
        self._inflight: deque[InFlight] = deque()
        self._reaper: asyncio.Task[None] | None = None
        self._declaring: asyncio.Task[None] | None = None
        self._retries: set[asyncio.Task[None]] = set()
        self._ack_timeout = settings.bridge_ack_timeout
        self._closing = False
        metrics.unacked.set_function(self.pending)

    def pending(self) -> int:
        return self.js.publish_async_pending() if self.js is not None else 0

    async def start(self) -> None:
        self.nc = await bus.connect(
            self.settings,
            name="stampede-bridge",
            log=log,
            on_disconnected=self._on_disconnected,
            on_reconnected=self._on_reconnected,
        )
        self.js = self.nc.jetstream(publish_async_max_pending=self.settings.bridge_max_inflight)
        await self.declare_streams()
        self._reaper = asyncio.create_task(self._reap(), name="bridge-ack-reaper")

    async def declare_streams(self) -> None:
        """Create or update the channel streams (and ``extra_streams``: the news stream);
        create the DLQ stream if missing."""
        assert self.js is not None
        for config in [*(channel_stream(self.settings, ch) for ch in Channel), *self.extra_streams]:
            assert config.name is not None  # every config here is built with a name
            try:
                await self.js.stream_info(config.name)
                await self.js.update_stream(config)
            except nats.js.errors.NotFoundError:
                await self.js.add_stream(config)
        await bus.ensure_dlq_stream(self.js, self.settings.dlq_max_age, self.settings.dlq_replicas)
        self.ready.set()
        self.metrics.nats_connected.set(1)
        log.info("jetstream streams in place (%d replicas)", self.settings.bridge_stream_replicas)

    async def publish(
        self, message: OutboundMessage, channel: Channel, events: int, read_at: float
    ) -> None:
        """Send one CloudEvent; waits only while the in-flight window is full."""
        assert self.js is not None
        try:
            future = await self.js.publish_async(
                message.subject, message.payload, headers=message.headers
            )
        except (
            nats.errors.OutboundBufferLimitError,
            nats.errors.ConnectionClosedError,
            nats.errors.ConnectionReconnectingError,
        ):
            self._failed(message, channel, events, read_at, "disconnected")
            return
        except nats.errors.MaxPayloadError:
            self._lost(events, "too_large")
            return
        sent = time.monotonic()
        size = len(message.payload)
        metrics = self.metrics

        def on_done(done: asyncio.Future[PubAck]) -> None:
            if done.cancelled():  # by the reaper, or because the connection was lost
                reason = "ack_timeout" if self.ready.is_set() else "disconnected"
                self._failed(message, channel, events, read_at, reason)
                return
            error = done.exception()
            if error is not None:
                no_stream = isinstance(error, nats.js.errors.NoStreamResponseError)
                if no_stream:
                    self._redeclare()
                reason = "no_stream" if no_stream else "api_error"
                self._failed(message, channel, events, read_at, reason)
                return
            now = time.monotonic()
            metrics.publish_latency.observe(now - sent)
            metrics.acked_latency.observe(time.time() - read_at)
            if done.result().duplicate:
                metrics.duplicates.inc()
                return
            metrics.published_by_channel[channel].inc()
            metrics.published_events_by_channel[channel].inc(events)
            metrics.published_bytes_by_channel[channel].inc(size)

        future.add_done_callback(on_done)
        self._inflight.append(InFlight(sent + self._ack_timeout, future))

    def _lost(self, events: int, reason: str) -> None:
        self.metrics.publish_errors.labels(reason).inc()
        self.metrics.dropped_events.labels("publish_failed").inc(events)

    def _failed(
        self, message: OutboundMessage, channel: Channel, events: int, read_at: float, reason: str
    ) -> None:
        """A publish was not acknowledged: send it again while its events are still fresh."""
        expires = read_at + self.settings.max_age(channel)
        if self._closing or time.time() + RETRY_PAUSE >= expires:
            self._lost(events, reason)
            return
        task = asyncio.get_running_loop().create_task(
            self._retry(message, channel, events, read_at, expires)
        )
        self._retries.add(task)
        task.add_done_callback(self._retries.discard)

    async def _retry(
        self,
        message: OutboundMessage,
        channel: Channel,
        events: int,
        read_at: float,
        expires: float,
    ) -> None:
        await asyncio.sleep(RETRY_PAUSE)
        try:
            await asyncio.wait_for(self.ready.wait(), max(0.0, expires - time.time()))
        except TimeoutError:
            self._lost(events, "expired")
            return
        self.metrics.publish_retries.inc()
        await self.publish(message, channel, events, read_at)

    async def _reap(self) -> None:
        inflight = self._inflight
        while True:
            await asyncio.sleep(REAP_INTERVAL)
            now = time.monotonic()
            while inflight and (inflight[0].future.done() or inflight[0].deadline <= now):
                entry = inflight.popleft()
                if not entry.future.done():
                    entry.future.cancel()  # releases its slot in the window

    async def flush(self, timeout: float) -> bool:
        """Wait (bounded) until every publish is acknowledged; True if all were."""
        if self.js is None:
            return True
        try:
            await asyncio.wait_for(self.js.publish_async_completed(), timeout)
            return True
        except TimeoutError:
            return False

    async def close(self) -> None:
        self._closing = True
        for task in (self._reaper, self._declaring, *self._retries):
            if task is not None:
                task.cancel()
        for entry in self._inflight:
            entry.future.cancel()
        self._inflight.clear()
        if self.nc is not None and not self.nc.is_closed:
            with contextlib.suppress(Exception):
                await self.nc.close()
        self.metrics.nats_connected.set(0)

    def _redeclare(self) -> None:
        if self._declaring is None or self._declaring.done():
            self.ready.clear()
            self.metrics.nats_connected.set(0)
            self._declaring = asyncio.create_task(
                self._declare_until_done(), name="bridge-declare-streams"
            )

    async def _declare_until_done(self) -> None:
        while True:
            try:
                await self.declare_streams()
                return
            except Exception as exc:  # noqa: BLE001 - keep trying while NATS recovers
                log.warning("declaring streams failed (%r); retrying", exc)
                await asyncio.sleep(1.0)

    async def _on_disconnected(self) -> None:
        self.ready.clear()
        self.metrics.nats_connected.set(0)
        # Acks for what was in flight went to the lost connection and will never arrive:
        # release those publishes now so they are sent again after the reconnect.
        for entry in self._inflight:
            entry.future.cancel()
        if not self._closing:
            log.warning("nats disconnected; publishing paused")

    async def _on_reconnected(self) -> None:
        log.warning("nats reconnected; re-declaring streams")
        self._redeclare()
