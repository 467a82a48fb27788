"""The bounded hand-off between the socket reader and the publisher.

The reader must never wait (a reader that falls behind is cut off by Massive as a slow
consumer), so ``put`` never blocks: when the queue is full the OLDEST frame is dropped and
counted. Fresh data beats complete data for a scanner; an old frame would be stale by the
time it was published anyway.
"""

from __future__ import annotations

import asyncio
from collections import deque
from collections.abc import Callable


class FrameQueue:
    """Frames as ``(raw bytes, read time in Unix seconds)``; drop-oldest when full."""

    def __init__(self, maxsize: int, on_drop: Callable[[int], None] | None = None) -> None:
        self.maxsize = maxsize
        self._items: deque[tuple[bytes, float]] = deque()
        self._not_empty = asyncio.Event()
        self._on_drop = on_drop
        self.dropped = 0

    def __len__(self) -> int:
        return len(self._items)

    def put(self, raw: bytes, read_at: float) -> None:
        if len(self._items) >= self.maxsize:
            self._items.popleft()
            self.dropped += 1
            if self._on_drop is not None:
                self._on_drop(1)
        self._items.append((raw, read_at))
        self._not_empty.set()

    async def get(self) -> tuple[bytes, float]:
        while not self._items:
            self._not_empty.clear()
            await self._not_empty.wait()
        return self._items.popleft()

    def get_nowait(self) -> tuple[bytes, float] | None:
        return self._items.popleft() if self._items else None

    def clear(self) -> int:
        """Drop everything queued (e.g. on shutdown); returns how many frames went."""
        count = len(self._items)
        self._items.clear()
        return count
