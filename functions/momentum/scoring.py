"""Momentum from trades: the pure part - a batch of trades reduced per symbol and second.

Trades are filtered by Massive's consolidated update rules (``stampede.conditions``): an odd
lot (37) or an out-of-sequence print counts toward volume, trade count and dollar volume but
does not move the last price or the high/low; official open/close prints (15/16) count for
nothing. The reduction is exactly what the Redis side merges commutatively:

- per second: eligible trade count and dollar volume (integer cents, so sums are exact and
  order-free), and the newest last-eligible price by (time, sequence);
- per symbol: newest last price, regular-session high and low, pre-market high (each with the
  time it was first reached), and the newest trade time (the symbol's clock).

The window metrics (1/5-minute % change, trades/s, 1-minute dollar volume) are derived from
the merged buckets inside the apply script (``window.py``), as of the symbol's newest trade.
"""

from __future__ import annotations

import functools
from collections.abc import Iterable
from dataclasses import dataclass, field

from stampede.conditions import Eligibility, eligibility
from stampede.functions.plan import market_clock
from stampede.market import Trade
from stampede.markettime import PREMARKET_OPEN, REGULAR_CLOSE, REGULAR_OPEN

PREMARKET_START = PREMARKET_OPEN.hour * 3600
REGULAR_START = REGULAR_OPEN.hour * 3600 + REGULAR_OPEN.minute * 60
REGULAR_END = REGULAR_CLOSE.hour * 3600

Mark = tuple[int, int, float]  # (time ms, sequence, price): ordered by time then sequence
Extreme = tuple[float, int]  # (price, time ms it was first reached)


@dataclass(slots=True)
class Second:
    trades: int = 0
    cents: int = 0
    last: Mark | None = None


@dataclass(slots=True)
class SymbolTrades:
    """One symbol's trades of one day in a batch, reduced."""

    day: str
    sym: str
    newest_ms: int = 0
    seconds: dict[int, Second] = field(default_factory=dict)  # Unix second -> bucket
    last: Mark | None = None
    high: Extreme | None = None  # regular session
    low: Extreme | None = None
    premarket_high: Extreme | None = None


@functools.lru_cache(maxsize=1024)
def _rules(conditions: tuple[int, ...]) -> Eligibility:
    return eligibility(conditions)


def higher(a: Extreme | None, b: Extreme) -> Extreme:
    """The higher price; on a tie the earlier time (when the high was first reached)."""
    return b if a is None or b[0] > a[0] or (b[0] == a[0] and b[1] < a[1]) else a


def lower(a: Extreme | None, b: Extreme) -> Extreme:
    return b if a is None or b[0] < a[0] or (b[0] == a[0] and b[1] < a[1]) else a


def reduce_trades(trades: Iterable[Trade]) -> list[SymbolTrades]:
    symbols: dict[tuple[str, str], SymbolTrades] = {}
    regular = _rules(())
    clock: dict[int, tuple[str, int]] = {}  # Unix second -> (day, ET second of day)
    for trade in trades:
        rules = _rules(tuple(trade.c)) if trade.c else regular
        if not rules.volume:
            continue  # official open/close prints update nothing
        t = trade.t
        second = t // 1000
        placed = clock.get(second)
        if placed is None:
            day, seconds_of_day = market_clock(second * 1000)
            placed = clock[second] = (day, int(seconds_of_day))
        day, of_day = placed  # session bounds are whole seconds: the second decides
        entry = symbols.get((day, trade.sym))
        if entry is None:
            entry = symbols[(day, trade.sym)] = SymbolTrades(day, trade.sym)
        if t > entry.newest_ms:
            entry.newest_ms = t
        bucket = entry.seconds.get(second)
        if bucket is None:
            bucket = entry.seconds[second] = Second()
        bucket.trades += 1
        bucket.cents += round(trade.p * trade.s * 100)
        if rules.last:
            mark = (t, trade.q, trade.p)
            if bucket.last is None or mark[:2] >= bucket.last[:2]:
                bucket.last = mark
            if entry.last is None or mark[:2] >= entry.last[:2]:
                entry.last = mark
        if rules.high_low:
            point = (trade.p, t)
            if REGULAR_START <= of_day < REGULAR_END:
                entry.high = higher(entry.high, point)
                entry.low = lower(entry.low, point)
            elif PREMARKET_START <= of_day < REGULAR_START:
                entry.premarket_high = higher(entry.premarket_high, point)
    return list(symbols.values())
