"""When the bridge holds the feed: from pre-market to the end of after-hours on XNYS sessions.

Outside that window there is nothing to read (Massive sends no stock events), so the bridge
lets go of the connection and the whole pipeline can scale to zero overnight and on holidays.
After-hours last four hours past the regular close, so an early-close day (13:00 ET) ends at
17:00 ET. Pure functions of a wall-clock instant; the calendar is exchange-calendars' XNYS.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime, timedelta

from stampede.markettime import ET, PREMARKET_OPEN, is_trading_day, regular_close

AFTER_HOURS_LENGTH = timedelta(hours=4)


@dataclass(frozen=True)
class FeedWindow:
    open: bool
    until: datetime  # when ``open`` next changes


def session_window(day: date) -> tuple[datetime, datetime]:
    """Start and end of the feed window of a trading day, in ET."""
    start = datetime.combine(day, PREMARKET_OPEN, ET)
    return start, regular_close(day) + AFTER_HOURS_LENGTH


def feed_window(now: datetime) -> FeedWindow:
    """Whether the feed should be held at ``now`` (timezone-aware) and until when."""
    now_et = now.astimezone(ET)
    day = now_et.date()
    if is_trading_day(day):
        start, end = session_window(day)
        if start <= now_et < end:
            return FeedWindow(True, end)
        if now_et < start:
            return FeedWindow(False, start)
    day += timedelta(days=1)
    while not is_trading_day(day):
        day += timedelta(days=1)
    return FeedWindow(False, session_window(day)[0])
