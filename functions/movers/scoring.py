"""Movers: gainers, losers, gappers, % from open, volume and RVOL from per-second bars (A).

Pure: a batch of bars plus the day's reference data in, row writes out. Every metric depends
only on the symbol's newest bar (``av`` is cumulative, ``op`` is the day's official open) and
the reference data, so the newest bar per symbol carries the whole update and the store's
monotonic clock makes replicas and redeliveries agree.

Definitions (``shared/scanner-definitions.md``):
- change % = (last - previous close) / previous close, last = bar close ``c``
- gap % = (open - previous close) / previous close; open = ``op`` once the official open is
  known, before 09:30 ET the latest pre-market price
- % from open = (last - op) / op; undefined (off the board) before the open
- volume = ``av`` (today's accumulated volume, pre-market included)
- pre-market volume = ``av`` of the newest bar that ends by 09:30 ET (its own clock, so a late
  pre-market bar still lands after the open, and replicas agree)
- RVOL = ``av`` / expected cumulative volume at this time of day (ADV x intraday profile)
Each row write is flagged ``near_band``: ``rows.lua`` re-ranks ``near_luld`` when the row has
halts' bands (it knows from one hash per shard, read for the whole batch) and skips it else.
Only trusted numbers rank: without reference data a symbol's row says ``has_reference=0`` and it
stays off the boards that need a previous close or a volume history.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass

from stampede.functions.plan import RowWrite, market_clock
from stampede.functions.reference import EMPTY, Reference
from stampede.market import Aggregate
from stampede.markettime import PREMARKET_OPEN, REGULAR_OPEN

CLOCK = "movers"
PREMARKET_CLOCK = "premarket"
REFERENCE_BOARDS = ("gainers", "losers", "gappers", "rvol")
OPEN_SECONDS = REGULAR_OPEN.hour * 3600 + REGULAR_OPEN.minute * 60
PREMARKET_SECONDS = PREMARKET_OPEN.hour * 3600
MIN_EXPECTED_VOLUME = 1.0  # below this an RVOL is a division by (almost) nothing


def score_bar(
    bar: Aggregate,
    reference: Reference,
    day: str,
    seconds_of_day: float,
    profile_fraction: float | None = None,
) -> RowWrite:
    """The row write and board scores of one symbol's newest bar; ``seconds_of_day`` is the
    bar's end as ET seconds since midnight of ``day``; ``profile_fraction`` is
    ``reference.profile_at(seconds_of_day)`` when the caller has it already."""
    c, av = bar.c, bar.av
    fields: dict[str, object] = {"last": c, "volume": av}
    static: dict[str, object] = {"sym": bar.sym}
    scores: dict[str, float] = {"volume": av}
    remove: list[str] = []
    if bar.a:
        fields["vwap"] = bar.a

    official_open = bar.op
    if official_open > 0:
        from_open = (c - official_open) / official_open * 100.0
        fields["from_open_pct"] = scores["from_open"] = from_open
        fields["open"] = gap_open = official_open
    else:
        remove.append("from_open")
        # Before 09:30 the "open" is the latest pre-market price; after it, wait for op.
        gap_open = c if seconds_of_day <= OPEN_SECONDS else 0.0
        if gap_open:
            fields["open"] = gap_open

    prev_close = reference.prev_close.get(bar.sym, 0.0)
    if prev_close > 0:
        static["has_reference"] = "1"
        static["prev_close"] = prev_close
        change = (c - prev_close) / prev_close * 100.0
        fields["change_pct"] = scores["gainers"] = scores["losers"] = change
        if gap_open:  # else: after 09:30 with op not known yet, keep the pre-market gap
            fields["gap_pct"] = scores["gappers"] = (gap_open - prev_close) / prev_close * 100.0
        if profile_fraction is None:
            profile_fraction = reference.profile_at(seconds_of_day)
        expected = reference.adv.get(bar.sym, 0.0) * profile_fraction  # = expected_volume()
        if expected >= MIN_EXPECTED_VOLUME:
            fields["rvol"] = scores["rvol"] = av / expected
        else:
            remove.append("rvol")
    else:
        static["has_reference"] = "0"
        remove.extend(REFERENCE_BOARDS)
    return RowWrite(day, bar.sym, CLOCK, bar.e, av, fields, scores, remove, static, near_band=True)


@dataclass(slots=True)  # not frozen: frozen dataclasses are slow to build on the hot path
class Located:
    """A bar placed in market time: its trading day and its end as ET seconds of that day."""

    bar: Aggregate
    day: str
    seconds_of_day: float


def locate(bars: Iterable[Aggregate]) -> list[Located]:
    """The newest bar per symbol and day, each placed in market time.

    Newest = by window end, then accumulated volume (a corrected re-send of the same second
    carries at least as much volume). The window's start decides the day, so the bar of
    23:59:59 belongs to the day it started in.
    """
    newest: dict[tuple[str, str], Located] = {}
    clock: dict[int, tuple[str, float]] = {}  # a batch's bars share a handful of seconds
    for bar in bars:
        placed = clock.get(bar.s)
        if placed is None:
            placed = clock[bar.s] = market_clock(bar.s)
        day = placed[0]
        seen = newest.get((day, bar.sym))
        if seen is None or (bar.e, bar.av) >= (seen.bar.e, seen.bar.av):
            newest[(day, bar.sym)] = Located(bar, day, placed[1] + (bar.e - bar.s) / 1000)
    return list(newest.values())


def score_batch(located: Iterable[Located], references: Mapping[str, Reference]) -> list[RowWrite]:
    """Row writes for located bars; ``references`` maps each day to its reference data."""
    writes = []
    fractions: dict[tuple[str, float], float] = {}
    for x in located:
        reference = references.get(x.day, EMPTY)
        fraction = fractions.get((x.day, x.seconds_of_day))
        if fraction is None:
            fraction = fractions[(x.day, x.seconds_of_day)] = reference.profile_at(x.seconds_of_day)
        writes.append(score_bar(x.bar, reference, x.day, x.seconds_of_day, fraction))
    return writes


def premarket_writes(bars: Iterable[Aggregate]) -> list[RowWrite]:
    """``premarket_volume`` per symbol: ``av`` of its newest bar ending in 04:00-09:30 ET.

    Apart from ``locate``: a group may hold a symbol's last pre-market bar and a newer one."""
    newest: dict[tuple[str, str], Aggregate] = {}
    for bar in bars:
        day, start = market_clock(bar.s)
        end = start + (bar.e - bar.s) / 1000
        if not PREMARKET_SECONDS < end <= OPEN_SECONDS:
            continue
        seen = newest.get((day, bar.sym))
        if seen is None or (bar.e, bar.av) >= (seen.e, seen.av):
            newest[(day, bar.sym)] = bar
    return [
        RowWrite(day, b.sym, PREMARKET_CLOCK, b.e, b.av, {"premarket_volume": b.av})
        for (day, _), b in newest.items()
    ]
