"""A CPU budget for background work: the fundamentals load may use at most a stated share of
one core, and pauses while the live feed runs late, so a midday (re)start that must load
thousands of ticker overviews never takes the CPU the live feed needs (issue 26: "background
loads have a budget", "pacing that backs off when live board-write latency rises").

The budget compares the process's CPU time (``time.process_time``) since the load began with
``share`` of the wall time since then; while ahead, ``pace`` sleeps the difference. While the
``late`` probe says the live feed is late (functions/late.py), it also waits, in steps, up to
``LATE_MAX_WAIT_S`` at a time, so a machine that stays overloaded still gets the load done,
slowly. A wait for the live feed earns no CPU credit. Both are counted in
``stampede_function_refdata_throttled_seconds_total`` by reason. Pure arithmetic in
``wait_for``; the clocks are injected so tests need no real CPU burn.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable

from stampede.functions import metrics

LATE_STEP_S = 0.25  # how often a paused load asks again whether the live feed caught up
LATE_MAX_WAIT_S = 10.0  # the longest a load waits for the live feed before its next step


def wait_for(cpu_used: float, elapsed: float, share: float) -> float:
    """Seconds to sleep so that ``cpu_used`` seconds of CPU are at most ``share`` of the wall
    time (0 when within budget)."""
    return max(0.0, cpu_used / share - elapsed)


class CpuBudget:
    def __init__(
        self,
        share: float,
        late: Callable[[], Awaitable[bool]] | None = None,
        cpu: Callable[[], float] = time.process_time,
        wall: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
    ) -> None:
        self.share = share
        self._late = late
        self._cpu, self._wall, self._sleep = cpu, wall, sleep
        self._cpu0, self._wall0 = cpu(), wall()
        self._lock = asyncio.Lock()  # concurrent steps wait once, not each for itself

    async def pace(self) -> float:
        """Sleep while the work so far used more than its share, then while the live feed is
        late (up to ``LATE_MAX_WAIT_S``); the seconds slept."""
        async with self._lock:
            pause = wait_for(self._cpu() - self._cpu0, self._wall() - self._wall0, self.share)
            if pause > 0:
                metrics.REFDATA_THROTTLED.labels("cpu").inc(pause)
                await self._sleep(pause)
            waited = 0.0
            while self._late is not None and waited < LATE_MAX_WAIT_S and await self._late():
                await self._sleep(LATE_STEP_S)
                waited += LATE_STEP_S
            if waited:
                metrics.REFDATA_THROTTLED.labels("live_late").inc(waited)
                self._wall0 += waited  # time given to the live feed is no credit for later
            return pause + waited
