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
- RVOL = ``av`` / expected cumulative volume at this time of day (ADV x intraday profile)
Only trusted numbers rank: without reference data a symbol's row says ``has_reference=0`` and it
stays off the boards that need a previous close or a volume history.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass

from stampede.market import Aggregate
from stampede.markettime import REGULAR_OPEN

from stampede_functions.plan import RowWrite, fmt, market_clock
from stampede_functions.reference import EMPTY, Reference

CLOCK = "movers"
REFERENCE_BOARDS = ("gainers", "losers", "gappers", "rvol")
OPEN_SECONDS = REGULAR_OPEN.hour * 3600 + REGULAR_OPEN.minute * 60
MIN_EXPECTED_VOLUME = 1.0  # below this an RVOL is a division by (almost) nothing


def pct(value: float, base: float) -> float:
    return (value - base) / base * 100.0


def score_bar(
    bar: Aggregate, reference: Reference, day: str, seconds_of_day: float
) -> RowWrite:
    """The row write and board scores of one symbol's newest bar; ``seconds_of_day`` is the
    bar's end as ET seconds since midnight of ``day``."""
    fields = {"sym": bar.sym, "last": fmt(bar.c), "volume": fmt(bar.av)}
    scores: dict[str, float] = {"volume": bar.av}
    remove: list[str] = []
    if bar.a:
        fields["vwap"] = fmt(bar.a)

    official_open = bar.op if bar.op > 0 else 0.0
    if official_open:
        from_open = pct(bar.c, official_open)
        fields["from_open_pct"] = fmt(from_open)
        scores["from_open"] = from_open
        gap_open = official_open
    else:
        remove.append("from_open")
        # Before 09:30 the "open" is the latest pre-market price; after it, wait for op.
        gap_open = bar.c if seconds_of_day <= OPEN_SECONDS else 0.0
    if gap_open:
        fields["open"] = fmt(gap_open)

    prev_close = reference.prev_close.get(bar.sym, 0.0)
    if prev_close > 0:
        fields["has_reference"] = "1"
        fields["prev_close"] = fmt(prev_close)
        change = pct(bar.c, prev_close)
        fields["change_pct"] = fmt(change)
        scores["gainers"] = scores["losers"] = change
        if gap_open:  # else: after 09:30 with op not known yet, keep the pre-market gap
            gap = pct(gap_open, prev_close)
            fields["gap_pct"] = fmt(gap)
            scores["gappers"] = gap
        expected = reference.expected_volume(bar.sym, seconds_of_day)
        if expected >= MIN_EXPECTED_VOLUME:
            rvol = bar.av / expected
            fields["rvol"] = fmt(rvol)
            scores["rvol"] = rvol
        else:
            remove.append("rvol")
    else:
        fields["has_reference"] = "0"
        remove.extend(REFERENCE_BOARDS)
    return RowWrite(
        day=day, sym=bar.sym, clock=CLOCK, t=bar.e, tie=bar.av,
        fields=fields, scores=scores, remove=tuple(remove),
    )


@dataclass(frozen=True, slots=True)
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
    for bar in bars:
        day, start_seconds = market_clock(bar.s)
        seen = newest.get((day, bar.sym))
        if seen is None or (bar.e, bar.av) >= (seen.bar.e, seen.bar.av):
            newest[(day, bar.sym)] = Located(bar, day, start_seconds + (bar.e - bar.s) / 1000)
    return list(newest.values())


def score_batch(located: Iterable[Located], references: Mapping[str, Reference]) -> list[RowWrite]:
    """Row writes for located bars; ``references`` maps each day to its reference data."""
    return [score_bar(x.bar, references.get(x.day, EMPTY), x.day, x.seconds_of_day)
            for x in located]
