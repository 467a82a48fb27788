"""The hub: one reader of Redis per gateway, fanning board diffs out to every client.

Work per tick follows boards and distinct subscription specs, never clients:

1. change notifications (``sp:changes``) mark boards dirty; ticks coalesce them and run at most
   ``GATEWAY_MAX_TICK_HZ`` times a second (plus a slow safety refresh);
2. a tick reads every dirty, watched board in one pipelined read (``store.read_boards``);
3. each distinct spec (board, limit, filters) computes its view and one diff, encoded once;
4. each client of that spec gets the shared bytes (with its subscription id spliced in) put on
   its own bounded queue. Putting never waits: a client whose queue is full loses its backlog
   and gets fresh snapshots instead, so a slow client costs itself, not the others.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections import deque
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

import msgspec
from opentelemetry import propagate, trace
from redis.asyncio import Redis
from redis.exceptions import RedisError

from stampede import changes, keys
from stampede import metricnames as names
from stampede.boards import BOARDS_BY_NAME
from stampede.gateway import metrics
from stampede.gateway.diff import View, diff
from stampede.gateway.messages import addressed, encode
from stampede.gateway.scans import Spec
from stampede.gateway.settings import GatewaySettings
from stampede.gateway.store import newest_day, read_boards, today_et
from stampede.logonce import LogOnce

log = logging.getLogger(__name__)
_tracer = trace.get_tracer("stampede.gateway")
MAX_TICK_LINKS = 32  # traced changes a tick span links to (a tick may coalesce thousands)


def now_ms() -> int:
    return int(time.time() * 1000)


@dataclass(slots=True)
class Outgoing:
    """A message on a client's queue, with what the sender needs for its metrics."""

    text: str
    kind: str  # diff | snapshot | control
    reason: str | None = None  # snapshot reason
    received_ms: int | None = None  # set on diffs whose latency is measured
    exchange_ms: int | None = None


class Client:
    """One WebSocket connection: its subscriptions and its bounded outgoing queue."""

    def __init__(self, queue_limit_bytes: int) -> None:
        self.queue_limit_bytes = queue_limit_bytes
        self.queue: deque[Outgoing] = deque()
        self.queued_bytes = 0
        self.subs: dict[str, Spec] = {}
        self.resets = 0
        self._ready = asyncio.Event()

    def push(self, item: Outgoing) -> None:
        """Queue regardless of the limit (control replies, fresh snapshots)."""
        self.queue.append(item)
        self.queued_bytes += len(item.text)
        self._ready.set()

    def clear(self) -> None:
        self.queue.clear()
        self.queued_bytes = 0

    @property
    def full(self) -> bool:
        return self.queued_bytes >= self.queue_limit_bytes

    async def pump(self, send: Callable[[str], Awaitable[None]]) -> None:
        """Send queued messages in order until cancelled or the socket fails."""
        while True:
            if not self.queue:
                self._ready.clear()
                await self._ready.wait()
                continue
            item = self.queue.popleft()
            self.queued_bytes -= len(item.text)
            await send(item.text)
            _record_sent(item)


def _record_sent(item: Outgoing) -> None:
    metrics.MESSAGES_SENT.inc()
    metrics.BYTES_SENT.inc(len(item.text))
    if item.kind == "diff":
        metrics.DIFFS_SENT.inc()
        now = time.time()
        if item.received_ms:
            metrics.PIPELINE_LATENCY.labels(names.Stage.CLIENT_SEND.value).observe(
                max(0.0, now - item.received_ms / 1000)
            )
        if item.exchange_ms:
            metrics.EXCHANGE_LATENCY.labels(names.Stage.CLIENT_SEND.value).observe(
                max(0.0, now - item.exchange_ms / 1000)
            )
    elif item.kind == "snapshot":
        metrics.SNAPSHOTS_SENT.labels(item.reason or "initial").inc()


@dataclass(slots=True)
class Freshness:
    """Newest data behind a board: exchange time and when the bridge read it (wall clock)."""

    exchange_ms: int | None = None
    received_ms: int | None = None

    def update(self, exchange_ms: int | None, received_ms: int | None) -> None:
        if exchange_ms and (self.exchange_ms is None or exchange_ms > self.exchange_ms):
            self.exchange_ms = exchange_ms
        if received_ms and (self.received_ms is None or received_ms > self.received_ms):
            self.received_ms = received_ms

    def to_wire(self) -> dict[str, int | None]:
        return {"exchange_ms": self.exchange_ms, "received_ms": self.received_ms}


@dataclass(slots=True)
class Feed:
    """A distinct subscription spec: its current view, sequence and the clients watching it."""

    spec: Spec
    seq: int = 0
    view: View | None = None  # None until the first read
    tick_ms: int = 0
    freshness: Freshness = field(default_factory=Freshness)
    members: dict[Client, set[str]] = field(default_factory=dict)
    _snapshot_body: str | None = None

    def snapshot_body(self, day: str) -> str:
        if self._snapshot_body is None:
            self._snapshot_body = encode(
                {
                    "seq": self.seq,
                    "board": self.spec.board,
                    "day": day,
                    "limit": self.spec.limit,
                    "filters": self.spec.filters.to_wire(),
                    "tick_ms": self.tick_ms,
                    **self.freshness.to_wire(),
                    "rows": self.view,
                }
            )
        return self._snapshot_body

    def advance(self, view: View, tick_ms: int, freshness: Freshness) -> None:
        self.view, self.tick_ms, self.freshness = view, tick_ms, freshness
        self.seq += 1
        self._snapshot_body = None


class Hub:
    def __init__(self, settings: GatewaySettings, redis: Redis) -> None:
        self.settings = settings
        self.redis = redis
        self.day = ""
        self.day_guessed = True
        self.clients: set[Client] = set()
        self.feeds: dict[Spec, Feed] = {}
        self.boards: dict[str, Freshness] = {}
        self.feed_freshness = Freshness()
        self.dirty: set[str] = set()
        self.notified: set[str] = set()  # dirtied by a notification since the last tick
        self.traced: list[str] = []  # traceparents of the changes since the last tick (tracing on)
        self.wake = asyncio.Event()
        self.listening = False
        self.ticks = 0
        self.redis_reads = 0
        self._tasks: list[asyncio.Task[None]] = []
        self._log_once = LogOnce(log)

    # -- lifecycle ---------------------------------------------------------------------------

    async def start(self) -> None:
        try:
            found = await newest_day(self.redis)
        except (RedisError, OSError) as exc:
            found = None
            self._log_once("start_day", "could not scan Redis for the current day: %s", exc)
        # Without boards in Redis the day is a guess (today in ET); the first notification's
        # day replaces it even if older, so a replay of a past session is shown too.
        self.day = found or today_et()
        self.day_guessed = found is None
        self._tasks = [
            asyncio.create_task(coro, name=name)
            for name, coro in (
                ("gateway-ticker", self._ticker()),
                ("gateway-listener", self._listener()),
                ("gateway-refresher", self._refresher()),
                ("gateway-heartbeat", self._heartbeat()),
            )
        ]

    async def stop(self) -> None:
        for task in self._tasks:
            task.cancel()
        for task in self._tasks:
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await task
        self._tasks = []

    # -- clients -----------------------------------------------------------------------------

    def add_client(self, client: Client) -> None:
        self.clients.add(client)
        metrics.CLIENTS.set(len(self.clients))

    def remove_client(self, client: Client) -> None:
        for sub_id in list(client.subs):
            self.unsubscribe(client, sub_id)
        self.clients.discard(client)
        metrics.CLIENTS.set(len(self.clients))

    def subscribe(self, client: Client, sub_id: str, spec: Spec) -> None:
        """Add (or replace) a subscription; its snapshot follows now or after the next read."""
        if sub_id in client.subs:
            self.unsubscribe(client, sub_id)
        feed = self.feeds.get(spec)
        if feed is None:
            feed = self.feeds[spec] = Feed(spec)
        feed.members.setdefault(client, set()).add(sub_id)
        client.subs[sub_id] = spec
        if feed.view is not None:
            client.push(self._snapshot(feed, sub_id, "initial"))
        else:
            self._mark_dirty({spec.board})
        self._gauges()

    def unsubscribe(self, client: Client, sub_id: str) -> bool:
        spec = client.subs.pop(sub_id, None)
        if spec is None:
            return False
        feed = self.feeds.get(spec)
        if feed is not None:
            ids = feed.members.get(client, set())
            ids.discard(sub_id)
            if not ids:
                feed.members.pop(client, None)
            if not feed.members:
                del self.feeds[spec]
        self._gauges()
        return True

    def resync(self, client: Client, sub_id: str | None, reason: str = "resync") -> None:
        """Fresh snapshots of one or all subscriptions (a pending one gets its initial later)."""
        for sid, spec in list(client.subs.items()):
            if sub_id is not None and sid != sub_id:
                continue
            feed = self.feeds[spec]
            if feed.view is not None:
                client.push(self._snapshot(feed, sid, reason))

    def _snapshot(self, feed: Feed, sub_id: str, reason: str) -> Outgoing:
        text = addressed("snapshot", sub_id, feed.snapshot_body(self.day))
        text = text[:-1] + f',"reason":"{reason}"}}'
        return Outgoing(text, "snapshot", reason=reason)

    def _deliver(self, client: Client, item: Outgoing) -> bool:
        """Queue a diff; a client that is too far behind gets snapshots instead (False)."""
        if not client.full:
            client.push(item)
            return True
        client.clear()
        client.resets += 1
        self._log_once(
            "slow_client",
            "a client fell %d bytes behind; replacing its backlog with snapshots",
            client.queue_limit_bytes,
        )
        self.resync(client, None, reason="slow_client")
        return False

    def broadcast(self, text: str) -> None:
        """A shared control message (heartbeat) to every client with room for it."""
        item = Outgoing(text, "control")
        for client in self.clients:
            if not client.full:
                client.push(item)

    def _gauges(self) -> None:
        metrics.VIEWS.set(len(self.feeds))
        metrics.SUBSCRIPTIONS.set(sum(len(c.subs) for c in self.clients))

    # -- notifications -----------------------------------------------------------------------

    def on_notification(self, raw: str | bytes) -> None:
        try:
            notice = changes.decode(raw)
        except msgspec.DecodeError as exc:
            metrics.NOTIFICATIONS.labels("bad").inc()
            self._log_once(
                "bad_notification", "ignoring a bad change notification (%s): %.200r", exc, raw
            )
            return
        day, boards = notice.day, notice.boards
        exchange_ms = notice.exchange_ms or None
        received_ms = notice.received_ms or None
        if day < self.day and not self.day_guessed:
            metrics.NOTIFICATIONS.labels("old_day").inc()
            return
        self.day_guessed = False
        if day != self.day:
            log.info("new trading day %s (was %s)", day, self.day)
            self.day = day
            self.boards.clear()
            self._mark_dirty(self.watched())
        metrics.NOTIFICATIONS.labels("ok").inc()
        traceparent = notice.traceparent
        if traceparent and len(self.traced) < MAX_TICK_LINKS:
            self.traced.append(traceparent)
        named = {b for b in boards if b in BOARDS_BY_NAME}
        for name in named:
            self.boards.setdefault(name, Freshness()).update(exchange_ms, received_ms)
        self.feed_freshness.update(exchange_ms, received_ms)
        self.notified |= named
        self._mark_dirty(named)

    def feed_time_ms(self, rows: list[dict[str, Any]]) -> int:
        """Now, in feed time: what scan filters on ages (a new high within 60 s) count from,
        so a replayed or simulated day filters as it would have live. Before the first
        notification the newest row update stands in for it."""
        if self.feed_freshness.exchange_ms:
            return self.feed_freshness.exchange_ms
        return max((r["updated_ms"] for r in rows if "updated_ms" in r), default=now_ms())

    def watched(self) -> set[str]:
        return {spec.board for spec in self.feeds}

    def _mark_dirty(self, boards: set[str]) -> None:
        if boards:
            self.dirty |= boards
            self.wake.set()

    # -- ticks -------------------------------------------------------------------------------

    async def tick(self) -> None:
        """One traced tick: a span linked to the function spans whose changes it publishes.

        A tick coalesces many changes, so it links to each (up to ``MAX_TICK_LINKS``) and is the
        child of the first, so the trace of that event shows the tick that published it.
        """
        traced, self.traced = self.traced, []
        contexts = [
            trace.get_current_span(propagate.extract({"traceparent": tp})).get_span_context()
            for tp in traced
        ]
        links = [trace.Link(c) for c in contexts if c.is_valid]
        parent = (
            trace.set_span_in_context(trace.NonRecordingSpan(links[0].context)) if links else None
        )
        with _tracer.start_as_current_span("gateway tick", context=parent, links=links):
            await self._tick()

    async def _tick(self) -> None:
        """Read the dirty watched boards once and advance every view on them."""
        boards = self.dirty & self.watched()
        notified = self.notified & boards
        self.dirty.clear()
        self.notified.clear()
        if not boards:
            return
        depth_cap = max(self.settings.gateway_max_limit, self.settings.gateway_filter_depth)
        depths: dict[str, int] = {}
        for spec in self.feeds:
            if spec.board in boards:
                need = min(spec.depth(self.settings.gateway_filter_depth), depth_cap)
                depths[spec.board] = max(depths.get(spec.board, 0), need)
        day, tick_ms, started = self.day, now_ms(), time.perf_counter()
        # the newest data the read can include: notifications arriving during the read are
        # for the next tick and must not make this one look fresher than it is
        freshness = {b: Freshness(**self.boards.get(b, Freshness()).to_wire()) for b in boards}
        try:
            read = await read_boards(self.redis, day, depths)
        except (RedisError, OSError):
            self.dirty |= boards  # read again once Redis is back
            self.notified |= notified
            raise
        self.ticks += 1
        self.redis_reads += read.commands
        metrics.TICKS.inc()
        metrics.REDIS_READS.inc(read.commands)
        metrics.REDIS_READS_PER_TICK.observe(read.commands)
        if day != self.day:
            return  # a new day began while reading; its boards are already dirty
        for feed in list(self.feeds.values()):
            rows = read.boards.get(feed.spec.board)
            if rows is None:
                continue
            if feed.spec.depth(self.settings.gateway_filter_depth) > depths[feed.spec.board]:
                self._mark_dirty({feed.spec.board})  # subscribed during the read, needs more rows
                continue
            self._advance(
                feed,
                rows,
                tick_ms,
                freshness[feed.spec.board],
                measured=feed.spec.board in notified,
            )
        metrics.TICK_DURATION.observe(time.perf_counter() - started)

    def _advance(
        self,
        feed: Feed,
        rows: list[dict[str, Any]],
        tick_ms: int,
        board_freshness: Freshness,
        measured: bool,
    ) -> None:
        view = feed.spec.select(rows, self.feed_time_ms(rows))
        freshness = Freshness(**board_freshness.to_wire())
        if freshness.exchange_ms is None:  # no notification yet: the rows' own newest time
            freshness.exchange_ms = max(
                (r["updated_ms"] for r in view if "updated_ms" in r), default=None
            )
        if feed.view is None:
            feed.advance(view, tick_ms, freshness)
            for client, ids in list(feed.members.items()):
                for sub_id in ids:
                    client.push(self._snapshot(feed, sub_id, "initial"))
            return
        change = diff(feed.view, view)
        if not change:
            return
        feed.advance(view, tick_ms, freshness)
        body = encode(
            {
                "seq": feed.seq,
                "board": feed.spec.board,
                "day": self.day,
                "tick_ms": tick_ms,
                **freshness.to_wire(),
                **change.to_wire(),
            }
        )
        received = freshness.received_ms if measured else None
        exchange = freshness.exchange_ms if measured else None
        for client, ids in list(feed.members.items()):
            for sub_id in ids:
                item = Outgoing(
                    addressed("diff", sub_id, body),
                    "diff",
                    received_ms=received,
                    exchange_ms=exchange,
                )
                if not self._deliver(client, item):
                    break  # its snapshots already include this diff

    async def _ticker(self) -> None:
        interval = 1.0 / self.settings.gateway_max_tick_hz
        last = 0.0
        backoff = 0.1
        while True:
            await self.wake.wait()
            self.wake.clear()
            delay = last + interval - time.monotonic()
            if delay > 0:
                await asyncio.sleep(delay)  # coalesce notifications arriving meanwhile
            last = time.monotonic()
            try:
                await self.tick()
                backoff = 0.1
            except (RedisError, OSError) as exc:
                metrics.REDIS_ERRORS.labels("read").inc()
                self._log_once("read_failed", "board read failed, retrying: %s", exc)
                await asyncio.sleep(backoff)
                backoff = min(backoff * 2, 5.0)
                self.wake.set()
            except Exception:  # a bug must not stop the gateway; log it and keep ticking
                log.exception("tick failed")

    async def _listener(self) -> None:
        """Subscribe to change notifications; on any Redis failure reconnect and re-read."""
        backoff = 0.1
        while True:
            pubsub = self.redis.pubsub()
            try:
                await pubsub.subscribe(keys.CHANGES_CHANNEL)
                async for message in pubsub.listen():
                    if message["type"] == "subscribe":
                        # (re)subscribed: notifications may have been missed, re-read everything
                        self.listening = True
                        backoff = 0.1
                        self._mark_dirty(self.watched())
                    elif message["type"] == "message":
                        self.on_notification(message["data"])
            except (RedisError, OSError) as exc:
                self.listening = False
                metrics.REDIS_ERRORS.labels("subscribe").inc()
                log.warning(
                    "change notifications interrupted (%s); reconnecting in %.1fs", exc, backoff
                )
                await asyncio.sleep(backoff)
                backoff = min(backoff * 2, 5.0)
            finally:
                self.listening = False
                with contextlib.suppress(Exception):
                    await pubsub.aclose()  # type: ignore[no-untyped-call]  # unannotated in redis-py

    async def _refresher(self) -> None:
        while True:
            await asyncio.sleep(self.settings.gateway_refresh_seconds)
            self._mark_dirty(self.watched())

    async def _heartbeat(self) -> None:
        while True:
            await asyncio.sleep(self.settings.gateway_heartbeat_seconds)
            if self.clients:
                self.broadcast(self.heartbeat())

    def heartbeat(self) -> str:
        return encode(
            {
                "type": "heartbeat",
                "server_ms": now_ms(),
                "day": self.day,
                "feed": self.feed_freshness.to_wire(),
                "listening": self.listening,
                "boards": {name: f.to_wire() for name, f in sorted(self.boards.items())},
            }
        )
