"""Corrected per-second bars: Massive re-sends an ``A`` bar when late trades arrive.

A bar whose window start ``s`` was already sent is sent again with the late trades in it, and
the re-send replaces the first one. Here a small share of a second's bars (``SIM_CORRECTION_RATE``)
get one late round-lot trade each, near the bar's close and the last of its window, so the
corrected bar has more volume (``v``, ``av``), a new close ``c`` (the late print), ``h``/``l``
stretched to it and both VWAPs moved. The model adds the late trade to the symbol's day (``av``,
dollars, the minute being built), so every later bar - and the minute bar - includes it, and
nothing is counted twice by a reader that keeps the newest bar per window.

The correction goes out ``CORRECTION_DELAY_MS`` after the bar it corrects, before the symbol's
next bar (one second on): a correction of an older window, after newer bars, is not simulated.
The late trades themselves are not sent on ``T``.
"""

from __future__ import annotations

import numpy as np

from stampede.sim.columns import Columns
from stampede.sim.universe import tick_round

CORRECTION_DELAY_MS = 500
LATE_LOTS = (1, 10)  # a late trade is 100-900 shares
LATE_PRICE_SD = 0.001  # its price: the close moved by ~0.1 %


def late_trades(
    rng: np.random.Generator, bars: Columns, rate: float
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Which bars (positions in ``bars``) get a late trade, and its size and price."""
    rows = np.nonzero(rng.random(len(bars)) < rate)[0]
    size = rng.integers(*LATE_LOTS, len(rows)) * 100
    close = bars.cols["c"][rows]
    price = tick_round(np.maximum(close * (1 + rng.normal(0, LATE_PRICE_SD, len(rows))), 0.0001))
    return rows, size, price


def corrected(
    bars: Columns, rows: np.ndarray, size: np.ndarray, price: np.ndarray, day_vwap: np.ndarray
) -> Columns:
    """The bars at ``rows`` again, with one late trade each (``day_vwap``: the symbols' day
    VWAP with it, from the model's sums)."""
    c = bars.cols
    v = c["v"][rows] + size
    trades = np.maximum(np.round(c["v"][rows] / c["z"][rows]), 1) + 1  # z = v / trades
    cols = {k: a[rows].copy() for k, a in c.items()}
    cols.update(
        v=v,
        av=c["av"][rows] + size,
        vw=np.round((c["vw"][rows] * c["v"][rows] + price * size) / v, 4),
        c=price,
        h=np.maximum(c["h"][rows], price),
        l=np.minimum(c["l"][rows], price),
        a=day_vwap,
        z=np.maximum(np.round(v / trades), 1).astype(np.int64),
    )
    return Columns(bars.channel, bars.sym[rows], bars.time[rows] + CORRECTION_DELAY_MS, cols)
