"""Reference data from Massive REST answers: pure transforms, no I/O.

- previous close: each ticker's close in the most recent loaded session (normally the
  previous trading day; a ticker that did not trade then keeps its latest earlier close);
- ADV: each ticker's mean daily volume over the loaded sessions it traded in;
- intraday profile: for each session, the proxy's cumulative minute volume divided by that
  session's total, averaged across sessions -> fraction of a day's volume done by the end of
  each ET minute of day.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from stampede.functions.plan import market_clock
from stampede.functions.reference import MINUTES_PER_DAY


@dataclass(frozen=True, slots=True)
class Loaded:
    prev_close: dict[str, float]
    adv: dict[str, float]
    profile: dict[int, float]  # minute of day -> cumulative fraction (only traded span)
    sessions: int


def daily_reference(
    grouped: Mapping[str, list[dict[str, Any]]],
) -> tuple[dict[str, float], dict[str, float]]:
    """(previous close, ADV) by ticker from grouped daily bars keyed by session date."""
    prev_close: dict[str, float] = {}
    volumes: dict[str, list[float]] = defaultdict(list)
    for _session, bars in sorted(grouped.items()):  # oldest first: newer closes overwrite
        for bar in bars:
            ticker, close, volume = bar.get("T"), bar.get("c"), bar.get("v")
            if not ticker or close is None or volume is None:
                continue
            if close > 0:
                prev_close[ticker] = float(close)
            volumes[ticker].append(float(volume))
    adv = {t: sum(v) / len(v) for t, v in volumes.items() if v and sum(v) > 0}
    return prev_close, adv


def intraday_profile(minute_bars: Iterable[dict[str, Any]]) -> tuple[dict[int, float], int]:
    """(profile, sessions used) from a proxy's minute bars (``t`` = bar start ms, ``v``)."""
    by_session: dict[str, list[float]] = defaultdict(lambda: [0.0] * MINUTES_PER_DAY)
    for bar in minute_bars:
        if bar.get("t") is None or not bar.get("v"):
            continue
        day, seconds = market_clock(int(bar["t"]))
        by_session[day][int(seconds // 60)] += float(bar["v"])
    curves = []
    first, last = MINUTES_PER_DAY, -1
    for minutes in by_session.values():
        total = sum(minutes)
        if total <= 0:
            continue
        running, curve = 0.0, []
        for i, v in enumerate(minutes):
            running += v
            curve.append(running / total)
            if v:
                first, last = min(first, i), max(last, i)
        curves.append(curve)
    if not curves:
        return {}, 0
    profile = {
        minute: sum(c[minute] for c in curves) / len(curves) for minute in range(first, last + 1)
    }
    return profile, len(curves)


def build(
    grouped: Mapping[str, list[dict[str, Any]]], minute_bars: Iterable[dict[str, Any]]
) -> Loaded:
    prev_close, adv = daily_reference(grouped)
    profile, _ = intraday_profile(minute_bars)
    return Loaded(prev_close, adv, profile, sessions=sum(1 for bars in grouped.values() if bars))
