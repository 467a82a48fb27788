"""Market time: the ET trading day and session of an exchange timestamp.

Everything downstream of the feed keys its state by *event* time, never the wall clock, so the
simulator can replay any day at any speed and a late event lands on the day it belongs to.
Holidays and early closes come from the XNYS exchange calendar (exchange-calendars), loaded
lazily because it pulls in pandas.
"""

from __future__ import annotations

import enum
import functools
from datetime import date, datetime, time, timedelta
from typing import TYPE_CHECKING
from zoneinfo import ZoneInfo

if TYPE_CHECKING:
    from exchange_calendars import ExchangeCalendar  # untyped: mypy sees Any

ET = ZoneInfo("America/New_York")
PREMARKET_OPEN = time(4, 0)
REGULAR_OPEN = time(9, 30)
REGULAR_CLOSE = time(16, 0)
AFTER_HOURS_CLOSE = time(20, 0)


class Session(str, enum.Enum):
    CLOSED = "closed"
    PREMARKET = "premarket"
    REGULAR = "regular"
    AFTER_HOURS = "after_hours"


def et_datetime(ms: int) -> datetime:
    return datetime.fromtimestamp(ms / 1000, ET)


def trading_day(ms: int) -> str:
    """ET calendar date of an exchange timestamp, ``YYYY-MM-DD`` (the Redis day scope)."""
    return et_datetime(ms).date().isoformat()


def seconds_since_midnight_et(ms: int) -> int:
    dt = et_datetime(ms)
    return dt.hour * 3600 + dt.minute * 60 + dt.second


def session_of(ms: int) -> Session:
    """The session by the clock alone (use :func:`is_trading_day` for holidays)."""
    t = et_datetime(ms).time()
    if PREMARKET_OPEN <= t < REGULAR_OPEN:
        return Session.PREMARKET
    if REGULAR_OPEN <= t < REGULAR_CLOSE:
        return Session.REGULAR
    if REGULAR_CLOSE <= t < AFTER_HOURS_CLOSE:
        return Session.AFTER_HOURS
    return Session.CLOSED


def et_ms(day: date, at: time) -> int:
    """Unix ms of an ET wall time on a day."""
    return int(datetime.combine(day, at, ET).timestamp() * 1000)


@functools.cache
def _xnys() -> ExchangeCalendar:
    import exchange_calendars  # heavy import: only where calendars are needed

    return exchange_calendars.get_calendar("XNYS")


def is_trading_day(day: date) -> bool:
    return bool(_xnys().is_session(day.isoformat()))


def previous_trading_day(day: date) -> date:
    d = day - timedelta(days=1)
    while not is_trading_day(d):
        d -= timedelta(days=1)
    return d


def regular_close(day: date) -> datetime:
    """The regular close of a session (13:00 ET on early-close days)."""
    close: datetime = _xnys().session_close(day.isoformat()).to_pydatetime()
    return close.astimezone(ET)
