"""The live feed's lateness, shared through Redis so background work yields to it (issue 26:
pacing that backs off when live board-write latency rises).

A live function (one whose data goes stale: ``checks_age``) that writes a batch more than
``FUNCTION_LATE_SECONDS`` after the bridge read it sets ``sp:live:late`` for ``HOLD_MS``, at most
every ``EVERY_S`` per process, so a late minute costs a few SETs, not one per batch. A
background load asks ``LateProbe`` (which reads the key at most every ``EVERY_S``) and pauses
while it is set. The signal is advisory: a Redis error means no signal, never a failed batch.
"""

from __future__ import annotations

import time
from collections.abc import Callable

from redis.exceptions import RedisError

from stampede import keys
from stampede.functions import metrics
from stampede.redisclient import RedisClient

HOLD_MS = 2000  # how long one late batch keeps the signal up
EVERY_S = 0.25  # a process writes (or reads) the signal at most this often


class LateSignal:
    """Raised by a live function when one of its batches reached the boards late."""

    def __init__(
        self,
        redis: RedisClient,
        function: str,
        threshold_s: float,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.redis, self.function, self.threshold_s = redis, function, threshold_s
        self._clock = clock
        self._last = float("-inf")

    async def note(self, latency_s: float) -> bool:
        """Mark the live feed late if ``latency_s`` is over the threshold; whether it wrote."""
        now = self._clock()
        if self.threshold_s <= 0 or latency_s <= self.threshold_s or now - self._last < EVERY_S:
            return False
        self._last = now
        try:
            await self.redis.set(keys.LIVE_LATE, self.function, px=HOLD_MS)
        except (RedisError, OSError):
            return False
        metrics.LIVE_LATE_SIGNALS.labels(self.function).inc()
        return True


class LateProbe:
    """Whether the live feed is late now, read from Redis at most every ``EVERY_S``."""

    def __init__(self, redis: RedisClient, clock: Callable[[], float] = time.monotonic) -> None:
        self.redis = redis
        self._clock = clock
        self._asked = float("-inf")
        self._late = False

    async def __call__(self) -> bool:
        now = self._clock()
        if now - self._asked >= EVERY_S:
            self._asked = now
            try:
                self._late = bool(await self.redis.exists(keys.LIVE_LATE))
            except (RedisError, OSError):
                self._late = False
        return self._late
