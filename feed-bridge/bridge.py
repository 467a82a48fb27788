"""The bridge: holds the feed (on schedule), turns frames into CloudEvents, publishes them.

Two tasks share one event loop and a bounded queue: the feed task reads frames and never
waits on NATS; the processor task parses, stamps and publishes. A third reports the feed link
(``link.py``) to the other bridges and hears theirs (``peers.py``): after an eviction the
bridge stands by while another one claims the feed, instead of evicting it back.

Each frame gets a span (OpenTelemetry API) whose context travels as the ``traceparent``
extension of every CloudEvent built from it; with no tracing SDK configured a locally
generated context is used, so the hops can still be correlated.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import random
import socket
import time
import uuid
from collections.abc import Callable
from datetime import UTC, datetime

from opentelemetry import trace
from opentelemetry.trace import NonRecordingSpan, SpanContext, SpanKind, TraceFlags
from opentelemetry.trace.propagation.tracecontext import TraceContextTextMapPropagator

from stampede.bridge.backoff import Backoff
from stampede.bridge.batching import parse_frame
from stampede.bridge.connection import AuthRejected, FeedConnection, SessionEnded
from stampede.bridge.envelope import EnvelopeWriter, FrameStamp, signing_key
from stampede.bridge.framequeue import FrameQueue
from stampede.bridge.link import STATES, FeedLink
from stampede.bridge.metrics import BridgeMetrics
from stampede.bridge.news import NewsPoller, news_stream
from stampede.bridge.peers import Peers
from stampede.bridge.publisher import Publisher
from stampede.bridge.schedule import feed_window
from stampede.bridge.settings import BridgeSettings
from stampede.logonce import LogOnce
from stampede.market import Channel
from stampede.markettime import ET

log = logging.getLogger(__name__)

FRAME_KINDS = frozenset({"invalid_json", "not_array"})  # malformed kinds that lose a whole frame
_propagator = TraceContextTextMapPropagator()


def traceparent_of(span: trace.Span) -> str:
    """W3C traceparent of a span; a fresh unsampled context when tracing is not configured."""
    context = span.get_span_context()
    if not context.is_valid:
        context = SpanContext(
            trace_id=random.getrandbits(128) or 1,
            span_id=random.getrandbits(64) or 1,
            is_remote=False,
            trace_flags=TraceFlags(TraceFlags.DEFAULT),
        )
        span = NonRecordingSpan(context)
    carrier: dict[str, str] = {}
    _propagator.inject(carrier, context=trace.set_span_in_context(span))
    return carrier["traceparent"]


class Bridge:
    def __init__(
        self,
        settings: BridgeSettings,
        metrics: BridgeMetrics | None = None,
        tracer: trace.Tracer | None = None,
        clock: Callable[[], datetime] = lambda: datetime.now(UTC),
    ) -> None:
        self.settings = settings
        self.clock = clock  # wall clock for the market-hours schedule (tests pin it)
        self.metrics = metrics or BridgeMetrics()
        self.tracer = tracer or trace.get_tracer("stampede.bridge")
        queue_full = self.metrics.dropped_frames.labels("queue_full")
        self.queue = FrameQueue(settings.bridge_queue_size, on_drop=queue_full.inc)
        self.metrics.queue_depth.set_function(lambda: len(self.queue))
        self.link = FeedLink(
            f"{socket.gethostname()}-{uuid.uuid4().hex[:8]}", lambda: int(time.time() * 1000)
        )
        self.feed = FeedConnection(settings, self.queue, self.metrics, self.link)
        self.publisher = Publisher(settings, self.metrics)
        self.news = (
            NewsPoller(settings, lambda: self.publisher.js, self.metrics.registry, clock)
            if settings.bridge_news
            else None
        )
        if self.news is not None:
            self.publisher.extra_streams.append(news_stream(settings))
        self.peers = Peers(settings, self.link, self.publisher, self.metrics)
        self.link.on_change = self._link_changed
        self._link_changed()
        self.writer = EnvelopeWriter(
            settings.feed_source,
            settings.bridge_content_mode,
            settings.bridge_broker_ttl,
            key=signing_key(settings),
        )
        self.idle_until: datetime | None = None
        self._stop = asyncio.Event()
        self._max_age = {ch: settings.max_age(ch) for ch in Channel}
        self._log_malformed = LogOnce(log)

    def _link_changed(self) -> None:
        for state in STATES:
            self.metrics.feed_state.labels(state).set(1 if state == self.link.state else 0)
        self.peers.changed()

    def stop(self) -> None:
        """Ask for a graceful stop (SIGTERM): stop reading, flush publishes, close."""
        self._stop.set()

    async def run(self) -> None:
        """Run until :meth:`stop`; raises :class:`AuthRejected` if Massive refuses the key."""
        stopping = asyncio.create_task(self._stop.wait())
        try:
            # NATS first (nats-py retries the first connect forever): without a bus to publish
            # to, holding the feed would only fill the queue with frames to drop.
            starting = asyncio.create_task(self.publisher.start())
            await asyncio.wait({starting, stopping}, return_when=asyncio.FIRST_COMPLETED)
            if not starting.done():
                # Python 3.11's wait_for can swallow a cancel that races an instant "connection
                # refused" inside nats-py's connect loop, so cancel until it takes.
                while not starting.done():
                    starting.cancel()
                    await asyncio.wait({starting}, timeout=0.1)
                await self.publisher.close()
                return
            starting.result()
            await self._serve(stopping)
        finally:
            stopping.cancel()

    async def _serve(self, stopping: asyncio.Task[bool]) -> None:
        processor = asyncio.create_task(self._process(), name="bridge-processor")
        peers = asyncio.create_task(self.peers.run(), name="bridge-peers")
        feed = asyncio.create_task(self._hold_feed(), name="bridge-feed")
        news = (
            asyncio.create_task(self.news.run(self.publisher.ready), name="bridge-news")
            if self.news is not None
            else None
        )
        try:
            await asyncio.wait(
                {feed, stopping, processor, peers}, return_when=asyncio.FIRST_COMPLETED
            )
        finally:
            feed.cancel()
            peers.cancel()
            if news is not None and self.news is not None:
                news.cancel()
                await asyncio.wait({news})
                await self.news.close()
            await asyncio.wait({feed, peers})  # their outcome is raised below, after the drain
            await self.peers.say_stopped()
            await self._drain(processor)
            await self.publisher.close()
        for task in (feed, processor, peers):
            if task.done() and not task.cancelled() and (error := task.exception()) is not None:
                raise error  # AuthRejected, or a bug

    async def _drain(self, processor: asyncio.Task[None]) -> None:
        """Publish what is queued and wait for the acks, within the shutdown budget."""
        deadline = time.monotonic() + self.settings.bridge_shutdown_timeout
        while len(self.queue) and not processor.done() and time.monotonic() < deadline:
            await asyncio.sleep(0.01)
        processor.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await processor
        left = self.queue.clear()
        flushed = await self.publisher.flush(max(0.0, deadline - time.monotonic()))
        log.info(
            "bridge stopped (frames left unpublished: %d, all publishes acknowledged: %s)",
            left,
            flushed,
        )

    async def readiness(self) -> tuple[bool, str]:
        """Ready = feed authenticated and NATS streams in place, or idle by schedule."""
        if self.idle_until is not None:
            return (
                True,
                f"idle by schedule (outside market hours) until {self.idle_until.isoformat()}",
            )
        if not self.publisher.ready.is_set():
            return False, "NATS JetStream not connected"
        if self.link.state == "standby":
            holder = self.link.holder or "another connection with this API key"
            return False, f"standby: evicted (max_connections); the feed is held by {holder}"
        if not self.feed.authenticated:
            return False, f"feed not connected: {self.feed.last_problem}"
        return True, "feed authenticated, NATS JetStream connected"

    # -- feed --------------------------------------------------------------------------------

    async def _hold_feed(self) -> None:
        settings = self.settings
        backoff = Backoff(settings.bridge_backoff_initial, settings.bridge_backoff_max)
        evictions = Backoff(settings.bridge_evicted_backoff, settings.bridge_evicted_backoff_max)
        while True:
            if self.settings.bridge_market_hours_only:
                window = feed_window(self.clock())
                if not window.open:
                    await self._idle(window.until)
                    continue
                seconds = (window.until - self.clock()).total_seconds()
                try:
                    async with asyncio.timeout(max(seconds, 0.0)):
                        await self._connect_forever(backoff, evictions)
                except TimeoutError:
                    log.info("market hours over; releasing the feed")
            else:
                await self._connect_forever(backoff, evictions)

    async def _idle(self, until: datetime) -> None:
        self.idle_until = until
        self.metrics.feed_idle.set(1)
        self.link.enter("idle", next_attempt_ms=int(until.timestamp() * 1000))
        log.info("outside market hours; feed released until %s", until.astimezone(ET).isoformat())
        try:
            await asyncio.sleep(max(0.0, (until - self.clock()).total_seconds()))
        finally:
            self.idle_until = None
            self.metrics.feed_idle.set(0)

    async def _connect_forever(self, backoff: Backoff, evictions: Backoff) -> None:
        while True:
            try:
                await self.feed.session()
                reason, detail = "closed", ""
            except SessionEnded as ended:
                reason, detail = ended.reason, ended.detail
            except AuthRejected:
                self.feed.last_problem = "auth rejected"
                raise
            if self.feed.held_for() >= self.settings.bridge_backoff_reset_after:
                backoff.reset()  # only a connection that lasted: accept-then-drop keeps doubling
            self.feed.last_problem = f"{reason} {detail}".strip()
            self.metrics.reconnects.labels(reason).inc()
            self.link.ended(reason, detail)
            if reason == "max_connections":
                await self._stand_by(evictions)
                continue
            evictions.reset()
            delay = backoff.next_delay()
            log.warning(
                "feed connection ended (%s); reconnecting in %.2fs", self.feed.last_problem, delay
            )
            self.link.enter("backoff", next_attempt_ms=int((time.time() + delay) * 1000))
            await asyncio.sleep(delay)

    async def _stand_by(self, evictions: Backoff) -> None:
        """Evicted: wait at least the eviction backoff, then until no other bridge claims it."""
        delay = evictions.next_delay()
        holder = self.peers.claims.holder(time.time())
        log.error(
            "EVICTED by Massive (max_connections): another connection with this API key holds "
            "the feed (%s; one connection per account, the newest wins). Standing by for %.0fs, "
            "then for as long as another bridge claims the feed, so the two do not evict each "
            "other in a loop.",
            holder or "not a bridge we can hear",
            delay,
        )
        self.link.enter("standby", next_attempt_ms=int((time.time() + delay) * 1000), holder=holder)
        await asyncio.sleep(delay)
        await self.peers.stand_by()
        log.warning("no other bridge claims the feed any more; taking it")

    # -- frames -> CloudEvents -> JetStream -------------------------------------------------

    async def _process(self) -> None:
        queue = self.queue
        ready = self.publisher.ready
        while True:
            raw, read_at = await queue.get()
            if not ready.is_set():
                await ready.wait()
            await self._publish_frame(raw, read_at)
            await asyncio.sleep(0)  # let the reader run between frames

    async def _publish_frame(self, raw: bytes, read_at: float) -> None:
        parsed = parse_frame(raw, self.settings.bridge_shards)
        for kind, message, sample in parsed.problems:
            self._malformed(kind, message, sample)
        if not parsed.batches:
            return
        metrics = self.metrics
        age = time.time() - read_at
        span = self.tracer.start_span(
            "bridge frame", kind=SpanKind.PRODUCER, start_time=int(read_at * 1e9)
        )
        try:
            stamp = FrameStamp(datetime.fromtimestamp(read_at, UTC), traceparent_of(span))
            for batch in parsed.batches:
                channel = batch.channel
                metrics.events_by_channel[channel].inc(batch.count)
                if age > self._max_age[channel]:
                    metrics.dropped_events.labels("stale").inc(batch.count)
                    continue
                outbound = self.writer.write(batch, stamp)
                await self.publisher.publish(outbound, channel, batch.count, read_at)
        finally:
            span.end()

    def _malformed(self, kind: str, message: str, sample: object) -> None:
        unit = self.metrics.dropped_frames if kind in FRAME_KINDS else self.metrics.dropped_events
        unit.labels(kind).inc()
        self._log_malformed(
            kind,
            "malformed input from the feed (%s): %s; sample: %.300r; "
            "further %s input is only counted",
            kind,
            message,
            sample,
            kind,
        )
