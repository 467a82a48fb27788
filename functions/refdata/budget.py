"""A CPU budget for background work: the fundamentals load may use at most a stated share of
one core, so a midday (re)start that must load thousands of ticker overviews never takes the
CPU the live feed needs (issue 26: "background loads have a budget").

The budget compares the process's CPU time (``time.process_time``) since the load began with
``share`` of the wall time since then; while ahead, ``pace`` sleeps the difference and counts it
(``stampede_refdata_throttled_seconds_total``). Pure arithmetic in ``wait_for``; the clocks are
injected so tests need no real CPU burn.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable

from stampede.functions import metrics


def wait_for(cpu_used: float, elapsed: float, share: float) -> float:
    """Seconds to sleep so that ``cpu_used`` seconds of CPU are at most ``share`` of the wall
    time (0 when within budget)."""
    return max(0.0, cpu_used / share - elapsed)


class CpuBudget:
    def __init__(
        self,
        share: float,
        cpu: Callable[[], float] = time.process_time,
        wall: Callable[[], float] = time.monotonic,
    ) -> None:
        self.share = share
        self._cpu, self._wall = cpu, wall
        self._cpu0, self._wall0 = cpu(), wall()

    async def pace(self) -> float:
        """Sleep while the work so far used more than its share; the seconds slept."""
        pause = wait_for(self._cpu() - self._cpu0, self._wall() - self._wall0, self.share)
        if pause > 0:
            metrics.REFDATA_THROTTLED.inc(pause)
            await asyncio.sleep(pause)
        return pause
