"""The tick: read every watched board at once, then advance each view by one diff.

A tick runs when something may have changed (a change notice, a new subscription, a
reconnect, the safety refresh) and at most ``GATEWAY_MAX_TICK_HZ`` times a second; requests
in between coalesce into the next tick. Every tick reads *all* watched boards in one atomic
read, not only the notified ones: a notice names the boards a function ranked, but the rows it
wrote are on other boards too, and a symbol must show the same numbers on every board at a tick.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Iterable
from typing import Any

from opentelemetry import propagate, trace
from redis.exceptions import RedisError

from stampede.gateway import metrics, replies
from stampede.gateway.clients import Outgoing
from stampede.gateway.diff import diff
from stampede.gateway.notices import Freshness, Notices, now_ms
from stampede.gateway.settings import GatewaySettings
from stampede.gateway.store import BoardReader, MissedRows
from stampede.gateway.subscriptions import Feed, Subscriptions
from stampede.logonce import LogOnce

log = logging.getLogger(__name__)
_tracer = trace.get_tracer("stampede.gateway")
READ_ERRORS = (RedisError, OSError, MissedRows)


class Ticker:
    def __init__(
        self,
        settings: GatewaySettings,
        subscriptions: Subscriptions,
        notices: Notices,
        reader: BoardReader,
    ) -> None:
        self.settings = settings
        self.subscriptions = subscriptions
        self.notices = notices
        self.reader = reader
        self.wake = asyncio.Event()
        self.notified: set[str] = set()  # boards named by a notice since the last tick
        self.ticks = 0
        self.redis_reads = 0
        self._log_once = LogOnce(log)

    def request(self, notified: Iterable[str] = ()) -> None:
        """Ask for a tick; ``notified`` boards get their tick->client latency measured."""
        self.notified.update(notified)
        self.wake.set()

    async def run(self) -> None:
        interval = 1.0 / self.settings.gateway_max_tick_hz
        last = 0.0
        backoff = 0.1
        while True:
            await self.wake.wait()
            self.wake.clear()
            delay = last + interval - time.monotonic()
            if delay > 0:
                await asyncio.sleep(delay)  # coalesce requests arriving meanwhile
            last = time.monotonic()
            try:
                await self.tick()
                backoff = 0.1
            except MissedRows as exc:  # Redis is fine, the boards just moved fast: read again
                metrics.REDIS_ERRORS.labels("missed_rows").inc()
                self._log_once("missed_rows", "board read missed rows, reading again: %s", exc)
                self.wake.set()
            except READ_ERRORS as exc:
                metrics.REDIS_ERRORS.labels("read").inc()
                self._log_once("read_failed", "board read failed, retrying: %s", exc)
                await asyncio.sleep(backoff)
                backoff = min(backoff * 2, 5.0)
                self.wake.set()
            except Exception:  # a bug must not stop the gateway; log it and keep ticking
                log.exception("tick failed")

    async def tick(self) -> None:
        """One traced tick: a span linked to the function spans whose changes it publishes.

        A tick coalesces many changes, so it links to each (up to ``MAX_TICK_LINKS``) and is the
        child of the first, so the trace of that event shows the tick that published it.
        """
        contexts = [
            trace.get_current_span(propagate.extract({"traceparent": tp})).get_span_context()
            for tp in self.notices.take_traced()
        ]
        links = [trace.Link(c) for c in contexts if c.is_valid]
        parent = (
            trace.set_span_in_context(trace.NonRecordingSpan(links[0].context)) if links else None
        )
        with _tracer.start_as_current_span("gateway tick", context=parent, links=links):
            await self._tick()

    async def _tick(self) -> None:
        settings = self.settings
        depth_cap = max(settings.gateway_max_limit, settings.gateway_filter_depth)
        depths = self.subscriptions.depths(settings.gateway_filter_depth, depth_cap)
        notified = self.notified & depths.keys()
        self.notified.clear()
        if not depths:
            return
        day, tick_ms, started = self.notices.day, now_ms(), time.perf_counter()
        # the newest data the read can include: notices arriving during the read are for the
        # next tick and must not make this one look fresher than it is
        freshness = {b: self.notices.boards.get(b, Freshness()).copy() for b in depths}
        try:
            read = await self.reader.read(day, depths)
        except READ_ERRORS:
            self.notified |= notified  # measured once Redis is back
            raise
        self.ticks += 1
        self.redis_reads += read.commands
        metrics.TICKS.inc()
        metrics.REDIS_READS.inc(read.commands)
        metrics.REDIS_READS_PER_TICK.observe(read.commands)
        if day != self.notices.day:
            self.request()  # a new day began while reading
            return
        for feed in list(self.subscriptions.feeds.values()):
            board = feed.spec.board
            rows = read.boards.get(board)
            if rows is None or feed.spec.depth(settings.gateway_filter_depth) > depths[board]:
                self.request()  # subscribed during the read: read again for it
                continue
            self._advance(feed, rows, day, tick_ms, freshness[board], board in notified)
        metrics.TICK_DURATION.observe(time.perf_counter() - started)

    def _advance(
        self,
        feed: Feed,
        rows: list[dict[str, Any]],
        day: str,
        tick_ms: int,
        board_freshness: Freshness,
        measured: bool,
    ) -> None:
        view = feed.spec.select(rows, self.notices.feed_time_ms(rows))
        freshness = board_freshness.copy()
        if freshness.exchange_ms is None:  # no notice yet: the rows' own newest time
            freshness.exchange_ms = max(
                (r["updated_ms"] for r in view if "updated_ms" in r), default=None
            )
        if feed.view is None:
            feed.advance(view, day, tick_ms, freshness)
            for client, ids in list(feed.members.items()):
                for sub_id in ids:
                    client.push(feed.snapshot(sub_id, "initial"))
            return
        change = diff(feed.view, view)
        if not change and day == feed.day:
            return
        metrics.CHANGED_ROWS.inc(
            len(change.removed) + len(change.added) + len(change.moved) + len(change.changed)
        )
        feed.advance(view, day, tick_ms, freshness)
        shared = replies.encode(
            replies.Diff(
                seq=feed.seq,
                board=feed.spec.board,
                day=day,
                tick_ms=tick_ms,
                exchange_ms=freshness.exchange_ms,
                received_ms=freshness.received_ms,
                removed=change.removed,
                added=[replies.Added(rank, row) for rank, row in change.added],
                moved=change.moved,
                changed=[replies.Changed(sym, set_, unset) for sym, set_, unset in change.changed],
            )
        )
        received = freshness.received_ms if measured else None
        exchange = freshness.exchange_ms if measured else None
        for client, ids in list(feed.members.items()):
            for sub_id in ids:
                item = Outgoing(
                    replies.addressed(shared, sub_id),
                    "diff",
                    received_ms=received,
                    exchange_ms=exchange,
                )
                if not self.subscriptions.deliver(client, item):
                    break  # its snapshots already include this diff
