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


class Client:
    """One WebSocket connection: its subscriptions (id -> spec) and its outgoing queue."""

    def __init__(self, queue_limit_bytes: int) -> None:
        self.queue_limit_bytes = queue_limit_bytes
        self.queue: deque[Outgoing] = deque()
        self.queued_bytes = 0
        self.subs: dict[str, Spec] = {}
        self.resets = 0  # times its backlog was replaced by snapshots
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
