"""The simulated clock: an ET instant that advances ``speed`` times faster than the wall clock.

Every timestamp the simulator sends and ``/v1/marketstatus/now``'s ``serverTime`` come from
here, so a scanner fed by the simulator sees a consistent market day at any speed.
"""

from __future__ import annotations

import time as _time
from collections.abc import Callable
from datetime import date, datetime, time, timedelta

from stampede import markettime


class SimClock:
    def __init__(
        self, start_ms: int, speed: float = 1.0, wall: Callable[[], float] = _time.time
    ) -> None:
        self.start_ms, self.speed, self._wall = start_ms, speed, wall
        self.wall_start = wall()
        self.held = False  # reads start_ms until restarted

    def restart(self, start_ms: int) -> None:
        """Make the simulated clock read ``start_ms`` now (and run, if it was held)."""
        self.start_ms, self.wall_start, self.held = start_ms, self._wall(), False

    def now_ms(self) -> int:
        if self.held:
            return self.start_ms
        return self.start_ms + int((self._wall() - self.wall_start) * 1000 * self.speed)

    def wall_ms(self) -> int:
        return int(self._wall() * 1000)

    def as_json(self) -> dict[str, object]:
        sim = self.now_ms()
        return {
            "sim_ms": sim,
            "speed": self.speed,
            "wall_ms": self.wall_ms(),
            "et": markettime.et_datetime(sim).isoformat(timespec="milliseconds"),
        }


def default_day(today: date | None = None) -> date:
    """The latest XNYS session on or before today (ET)."""
    day = today or datetime.now(markettime.ET).date()
    return day if markettime.is_trading_day(day) else markettime.previous_trading_day(day)


def parse_start(day: date, start: str) -> int:
    """Unix ms of ``start`` (``HH:MM[:SS]`` ET, or ``now`` = the current ET time of day) on ``day``."""
    if start == "now":
        now = datetime.now(markettime.ET)
        at = now.time()
    else:
        parts = [int(p) for p in start.split(":")]
        if not 2 <= len(parts) <= 3:
            raise ValueError(f"start time {start!r}: expected HH:MM[:SS] or 'now'")
        at = time(parts[0], parts[1], parts[2] if len(parts) == 3 else 0)
    return int(datetime.combine(day, at, markettime.ET).timestamp() * 1000)


def seconds_of_day(ms: int) -> int:
    dt = markettime.et_datetime(ms)
    midnight = datetime.combine(dt.date(), time(0), markettime.ET)
    return int((dt - midnight) / timedelta(seconds=1))
