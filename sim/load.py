"""Load mode's events per second: ``--rate N`` spread over the tickers in one of two shapes.

- ``uniform`` (the adversarial case, and the default): ``N/6`` tickers drawn afresh every second,
  each with one ``A`` bar and at least one trade, so almost every symbol visit downstream is a
  different symbol and nothing can be merged.
- ``market``: the market model's own heavy-tailed activity (each ticker's expected daily trades),
  scaled to N events/s: the trades of a second are drawn over all tickers in proportion to their
  activity, so most land in a few hundred names, as on a real tape, and the many quiet names
  trade now and then.

Either way a second's events are its trades plus one ``A`` bar per ticker that traded, and they
add up to N (the market shape: N on average, with the few-per-mille noise of the draw).
"""

from __future__ import annotations

import enum

import numpy as np

BISECTION_STEPS = 60


class LoadShape(enum.StrEnum):
    UNIFORM = "uniform"
    MARKET = "market"


class LoadCounts:
    """Trades per ticker for each second of load mode at ``rate`` events/s."""

    def __init__(self, rate: int, activity: np.ndarray, shape: LoadShape) -> None:
        self.rate, self.shape, self.n = rate, shape, len(activity)
        self.weights = activity / activity.sum()
        self.trades = market_trades(rate, self.weights) if shape is LoadShape.MARKET else 0

    def draw(self, rng: np.random.Generator) -> np.ndarray:
        if self.shape is LoadShape.MARKET:
            return rng.multinomial(self.trades, self.weights)
        n = self.n
        n_bars = min(n, max(1, self.rate // 6))
        pick = rng.choice(n, n_bars, replace=False) if n_bars < n else np.arange(n)
        counts = np.zeros(n, dtype=np.int64)
        counts[pick] = 1 + rng.multinomial(
            max(0, self.rate - 2 * n_bars), np.full(n_bars, 1.0 / n_bars)
        )
        return counts


def expected_events(trades: float, weights: np.ndarray) -> float:
    """Trades plus expected ``A`` bars (tickers with at least one of ``trades`` draws)."""
    return trades + float(np.sum(-np.expm1(trades * np.log1p(-weights))))


def market_trades(rate: int, weights: np.ndarray) -> int:
    """Trades per second whose expected events (trades + bars) are ``rate`` (monotone: bisect)."""
    lo, hi = 0.0, float(rate)
    for _ in range(BISECTION_STEPS):
        mid = (lo + hi) / 2
        lo, hi = (mid, hi) if expected_events(mid, weights) < rate else (lo, mid)
    return round(lo)
