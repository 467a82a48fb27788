"""What a scoring function wants written: plain data, produced by the pure scoring modules.

A function's ``scoring.py`` turns a batch of market events into :class:`RowWrite` values
(numbers in, board updates out, no I/O). ``store.py`` applies them to Redis atomically and
monotonically: a row write whose exchange time is older than what its clock already holds
is skipped, so replicas and redeliveries cannot move a row backwards.
"""

from __future__ import annotations

import functools
from collections.abc import Sequence
from dataclasses import dataclass, field

from stampede.boards import NEAR_LULD
from stampede.markettime import et_datetime


@dataclass(slots=True)
class RowWrite:
    """One symbol's update from one clock (a group of row fields owned by one function).

    ``t``/``tie`` order writes of the same clock: the write applies only if
    ``(t, tie)`` is not older than the stored pair (ties keep the later arrival).
    """

    day: str
    sym: str
    clock: str
    t: int
    tie: float = 0.0
    fields: dict[str, object] = field(default_factory=dict)  # numbers are formatted by Redis
    scores: dict[str, float] = field(default_factory=dict)  # board name -> score
    remove: Sequence[str] = ()  # boards the symbol must leave (metric undefined now)
    # Fields that rarely change (symbol, reference data): written on the clock's first write
    # of the day and then at most once per exchange minute, to keep the hot path light.
    static: dict[str, object] = field(default_factory=dict)
    # The write moves the last price or the LULD bands: re-rank the symbol on ``near_luld``
    # from the row as it stands after the write (rows.lua; last and bands come from two
    # functions, so only the row holds both). A price write to a row without bands is skipped
    # inside rows.lua at the cost of one hash look-up, so movers flags every bar.
    near_band: bool = False
    # The fields set both LULD bands (halts): rows.lua records them in the shard's bands hash,
    # which near_luld re-ranks of later price writes read instead of the row.
    sets_bands: bool = False

    def boards(self) -> set[str]:
        return set(self.scores) | set(self.remove) | ({NEAR_LULD} if self.near_band else set())


_HOUR_MS = 3_600_000


@functools.lru_cache(maxsize=64)
def _hour(hour_index: int) -> tuple[str, int]:
    """(trading day, ET seconds of day at the hour's start): the ET offset only changes on an
    hour boundary, so one timezone conversion per hour serves every event in it."""
    start = et_datetime(hour_index * _HOUR_MS)
    return start.date().isoformat(), start.hour * 3600


def market_clock(ms: int) -> tuple[str, float]:
    """(ET trading day, ET seconds since that day's midnight) of an exchange timestamp."""
    hour_index, within = divmod(ms, _HOUR_MS)
    day, hour_seconds = _hour(hour_index)
    return day, hour_seconds + within / 1000
