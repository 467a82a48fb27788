"""Spreading one Trigger's deliveries over its subscriber's replicas, as Knative does.

In a cluster the dispatcher posts to one Service URL and Knative's activator and queue-proxy
spread the requests: each replica takes at most ``containerConcurrency`` at once, and a new
request goes to a replica with the fewest in flight. Locally (`stampede up --replicas
momentum=4`) the dispatcher is given every replica's URL and does the same here, so the local
stack measures what the cluster would do: never round-robin alone, which piles requests on a
replica that is slow for a moment while others idle.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Sequence


class Replicas:
    """The replicas of one subscriber and the requests each has in flight."""

    def __init__(self, urls: Sequence[str], limit: int) -> None:
        if not urls:
            raise ValueError("a subscriber needs at least one URL")
        self.urls = tuple(urls)
        self.limit = limit  # containerConcurrency: requests one replica takes at once
        self.inflight = [0] * len(self.urls)
        self.delivered = [0] * len(self.urls)
        self._turn = 0  # ties start from here, so equally idle replicas share evenly
        self._freed = asyncio.Condition()

    def _pick(self) -> int | None:
        n = len(self.urls)
        best: int | None = None
        for k in range(n):
            i = (self._turn + k) % n
            if self.inflight[i] < self.limit and (
                best is None or self.inflight[i] < self.inflight[best]
            ):
                best = i
        return best

    @contextlib.asynccontextmanager
    async def acquire(self) -> AsyncIterator[str]:
        """The URL of the least busy replica with room, held until the block ends (waits while
        every replica is at its limit)."""
        async with self._freed:
            await self._freed.wait_for(lambda: self._pick() is not None)
            i = self._pick()
            assert i is not None
            self.inflight[i] += 1
            self._turn = (i + 1) % len(self.urls)
        try:
            yield self.urls[i]
        finally:
            self.inflight[i] -= 1
            self.delivered[i] += 1
            async with self._freed:
                self._freed.notify()
