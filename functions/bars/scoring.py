"""bars: what the symbol view charts - the day's minute bars and its halts - as plain writes.

Pure: Massive ``AM`` minute bars and ``LULD`` events in, hash writes out. A bar is keyed by its
window start, so a bar Massive sends again for the same minute (a correction after late
trades) replaces the first one, and a redelivered CloudEvent writes the same bytes again:
idempotent without a seen-key. Halts and resumes are keyed by exchange time and sequence.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

import msgspec

from stampede.market import LULD_HALT, LULD_RESUME, Luld, MinuteAggregate, to_millis
from stampede.markettime import trading_day


class Bar(msgspec.Struct, array_like=True):
    """One stored minute bar: compact (a JSON array), about 60 bytes in Redis."""

    o: float
    h: float
    l: float  # noqa: E741 - Massive's own name
    c: float
    v: float
    vw: float  # the minute's VWAP
    a: float  # the day's VWAP at the end of the minute


class HaltEvent(msgspec.Struct, array_like=True):
    halted: bool  # False: a resume


@dataclass(frozen=True, slots=True)
class HashWrite:
    """``HSET kind(day, sym) field value``."""

    kind: str  # "bars" | "halts"
    day: str
    sym: str
    field: str
    value: bytes


_encode = msgspec.json.Encoder().encode


def bar_writes(events: Iterable[MinuteAggregate]) -> list[HashWrite]:
    """One write per bar, the last of a batch winning when a minute comes twice."""
    newest: dict[tuple[str, int], MinuteAggregate] = {}
    for e in events:
        newest[(e.sym, e.s)] = e
    return [
        HashWrite(
            "bars",
            trading_day(s),
            sym,
            str(s),
            _encode(Bar(e.o, e.h, e.l, e.c, e.v, e.vw or e.c, e.a or e.vw or e.c)),
        )
        for (sym, s), e in newest.items()
    ]


def halt_writes(events: Iterable[Luld]) -> list[HashWrite]:
    """Halts (indicator 17) and resumes (18); band-only updates are not history."""
    out = []
    for e in events:
        halt, resume = LULD_HALT in e.i, LULD_RESUME in e.i
        if not (halt or resume):
            continue
        ms = to_millis(e.t)
        out.append(
            HashWrite("halts", trading_day(ms), e.T, f"{ms}:{e.q}", _encode(HaltEvent(not resume)))
        )
    return out
