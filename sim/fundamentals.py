"""Reference data of the simulated listing: free float, shares outstanding, market cap and
short interest, each with the date it is as of, as Massive serves them.

Shares outstanding follow from average daily volume and a lognormal turnover, so they are as
heavy-tailed as volume (a few names with billions of shares, many with tens of millions).
Free float is a share of them (most companies float 70-99 %). The day's gappers and runners
are mostly low-float names (1-15 M shares), as on real momentum days. Some tickers have no
float, no short interest or no overview figures at all (ETFs have no float, some overviews
lack a market cap), so a scanner has to show "unknown" rather than guess.

Short interest is reported for FINRA's settlement dates (mid-month and month end) about ten
days after each; the endpoint serves the last few, so a reader must pick the latest.
"""

from __future__ import annotations

import calendar
from dataclasses import dataclass
from datetime import date, timedelta

import numpy as np

from stampede import markettime
from stampede.sim.universe import Universe

ETFS = frozenset({"SPY", "QQQ", "IWM"})
SETTLEMENTS_SERVED = 4
PUBLICATION_LAG_DAYS = 10
EXCHANGE_MIC = {1: "XNYS", 2: "ARCX", 3: "XNAS"}


@dataclass(frozen=True)
class Fundamentals:
    """Per-ticker reference arrays; a value of 0 (or a False ``has_*``) means "not published"."""

    universe: Universe
    day: date
    shares_class: np.ndarray  # share_class_shares_outstanding
    shares_weighted: np.ndarray  # weighted_shares_outstanding
    has_overview: np.ndarray  # False: /v3/reference/tickers/{T} answers 404
    has_market_cap: np.ndarray
    free_float: np.ndarray
    free_float_pct: np.ndarray
    float_date: list[str]  # effective_date ("" when there is no float)
    short_interest: np.ndarray  # (tickers, settlements), oldest first; 0 = none
    avg_daily_volume: np.ndarray  # (tickers, settlements)
    settlements: list[str]  # settlement dates served, oldest first

    def market_cap(self, i: int) -> float | None:
        if not (self.has_overview[i] and self.has_market_cap[i]):
            return None
        return round(float(self.shares_weighted[i] * self.universe.prev_close[i]), 2)

    def latest_short(self, i: int) -> tuple[int, int, str] | None:
        """(short interest, average daily volume, settlement date) of the latest settlement."""
        if not self.short_interest[i, -1]:
            return None
        return (
            int(self.short_interest[i, -1]),
            int(self.avg_daily_volume[i, -1]),
            self.settlements[-1],
        )

    def truth(self, i: int) -> dict[str, object]:
        """The row fields a scanner should show for ticker ``i`` (absent = unknown)."""
        out: dict[str, object] = {}
        if self.free_float[i]:
            out["float_shares"] = int(self.free_float[i])
            out["float_as_of"] = self.float_date[i]
        if self.has_overview[i] and self.shares_class[i]:
            out["shares_outstanding"] = int(self.shares_class[i])
        cap = self.market_cap(i)
        if cap is not None:
            out["market_cap"] = cap
        short = self.latest_short(i)
        if short is not None:
            interest, adv, settled = short
            out["short_interest"] = interest
            out["days_to_cover"] = days_to_cover(interest, adv)
            out["short_interest_as_of"] = settled
            if self.free_float[i]:
                out["short_pct_float"] = interest / float(self.free_float[i]) * 100
        return out


def days_to_cover(short_interest: int, avg_daily_volume: int) -> float:
    return round(short_interest / max(avg_daily_volume, 1), 2)


def settlement_dates(day: date, count: int = SETTLEMENTS_SERVED) -> list[str]:
    """The last ``count`` FINRA settlement dates published by ``day``, oldest first: the 15th
    and the month end, each moved back to a trading day, published ten days later."""
    found: list[date] = []
    year, month = day.year, day.month
    while len(found) < count:
        last = calendar.monthrange(year, month)[1]
        for candidate in (date(year, month, last), date(year, month, 15)):
            while not markettime.is_trading_day(candidate):
                candidate -= timedelta(days=1)
            if candidate + timedelta(days=PUBLICATION_LAG_DAYS) <= day:
                found.append(candidate)
        year, month = (year, month - 1) if month > 1 else (year - 1, 12)
    return [d.isoformat() for d in sorted(found)[-count:]]


def build_fundamentals(
    universe: Universe, day: date, seed: int, low_float: np.ndarray
) -> Fundamentals:
    """Reference data for ``day``; ``low_float`` marks tickers (the day's movers) to give a
    small float most of the time."""
    rng = np.random.default_rng([seed, 0xF10A7, day.toordinal()])
    n = universe.size
    etf = np.array([s in ETFS for s in universe.symbols])
    turnover = np.exp(rng.normal(np.log(0.006), 0.9, n)).clip(0.0004, 0.4)
    shares = np.round(universe.adv / turnover, -3).clip(500_000, 3e10)
    pct = rng.beta(6.0, 1.3, n).clip(0.05, 1.0)
    small = low_float & (rng.random(n) < 0.8)
    tiny = rng.uniform(0.8e6, 15e6, n)
    shares = np.where(small, np.maximum(shares, np.round(tiny / pct, -3)), shares)
    free_float = np.where(small, np.round(tiny, -2), np.round(shares * pct, -2))
    free_float_pct = np.round(free_float / shares * 100, 4)
    has_float = ~etf & (rng.random(n) > 0.04)
    free_float = np.where(has_float, free_float, 0).astype(np.int64)
    float_age = rng.integers(1, 120, n)
    float_date = [
        (day - timedelta(days=int(a))).isoformat() if f else ""
        for a, f in zip(float_age, free_float)
    ]
    weighted = np.round(shares * np.exp(rng.normal(0.0, 0.01, n)), -3)

    settlements = settlement_dates(day)
    k = len(settlements)
    short_pct = np.exp(rng.normal(np.log(0.03), 0.9, n)).clip(0.001, 0.45)
    short_pct = np.where(small, (short_pct * 2).clip(0.001, 0.6), short_pct)
    # Shorts are bounded both by the float and by how many days of volume covering would take.
    cover_days = np.exp(rng.normal(np.log(3.0), 0.7, n)).clip(0.2, 30.0)
    bound = np.where(free_float > 0, free_float, shares) * short_pct
    base = np.minimum(bound, universe.adv * cover_days)
    drift = np.exp(np.cumsum(rng.normal(0.0, 0.12, (n, k)), axis=1))
    drift /= drift[:, -1:]
    has_short = rng.random(n) > 0.05
    short_interest = np.where(has_short[:, None], np.round(base[:, None] * drift), 0)
    adv_settled = np.maximum(
        np.round(universe.adv[:, None] * np.exp(rng.normal(0.0, 0.25, (n, k)))), 1
    )
    return Fundamentals(
        universe=universe,
        day=day,
        shares_class=np.where(etf, 0, shares).astype(np.int64),
        shares_weighted=weighted.astype(np.int64),
        has_overview=rng.random(n) > 0.01,
        has_market_cap=~etf & (rng.random(n) > 0.02),
        free_float=free_float,
        free_float_pct=np.where(has_float, free_float_pct, 0.0),
        float_date=float_date,
        short_interest=short_interest.astype(np.int64),
        avg_daily_volume=adv_settled.astype(np.int64),
        settlements=settlements,
    )
