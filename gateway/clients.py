"""One connected client: its subscriptions and its bounded outgoing queue.

Putting never waits (the tick fans out to hundreds of clients in one pass); a sender task per
client drains the queue into its socket, so a slow socket delays only its own client.
"""

from __future__ import annotations

import asyncio
import time
from collections import deque
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Literal

from stampede import metricnames as names
from stampede.gateway import metrics
from stampede.gateway.scans import Spec


@dataclass(slots=True)
class Outgoing:
    """A message on a client's queue, with what the sender needs for its metrics."""

    text: str
    kind: Literal["diff", "snapshot", "control"]
    reason: str | None = None  # snapshot reason
    received_ms: int | None = None  # set on diffs whose latency is measured
    exchange_ms: int | None = None


class TooSlow(Exception):
    """The client's queue went past its hard limit: it is not reading."""


class Client:
    """One WebSocket connection: its subscriptions (id -> spec) and its outgoing queue.

    Diffs stop at ``queue_limit_bytes`` (the backlog is then replaced by snapshots); control
    replies and snapshots are queued past it, but everything counts, and a queue past twice
    the limit ends the client (Redis's ``client-output-buffer-limit``, for the same reason)."""

    def __init__(self, queue_limit_bytes: int) -> None:
        self.queue_limit_bytes = queue_limit_bytes
        self.queue: deque[Outgoing] = deque()
        self.queued_bytes = 0
        self.subs: dict[str, Spec] = {}
        self.resets = 0  # times its backlog was replaced by snapshots
        self.too_slow = False  # past the hard limit: the pump ends and the session closes
        self._ready = asyncio.Event()

    def push(self, item: Outgoing) -> None:
        """Queue past the soft limit too (control replies, fresh snapshots), up to the hard one."""
        if self.too_slow:
            return
        if self.queued_bytes + len(item.text) > 2 * self.queue_limit_bytes:
            self.too_slow = True
            self.clear()
        else:
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
            if self.too_slow:
                raise TooSlow
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
