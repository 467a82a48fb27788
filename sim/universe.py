"""The simulated listing: tickers with realistic price levels, volumes and history.

Prices are lognormal (a few dollars to a few thousand, many under $5), average daily volume is
heavy-tailed (most tickers barely trade, a few hundred carry the market), so the feed has the
real shape: most symbols quiet most seconds. A handful of well-known liquid names come first
(``SPY`` is the natural liquid proxy for an intraday volume profile).

History (daily bars for past sessions, minute bars of any past session on demand) is derived
from the seed alone, so REST answers and the live feed agree: the last past close *is* the
previous close the live day starts from.
"""

from __future__ import annotations

import string
from dataclasses import dataclass
from datetime import date, time

import numpy as np

from stampede import markettime
from stampede.sim.profile import minute_weights

# (ticker, tape, price, average daily volume) — liquid names a scanner user expects to see.
WELL_KNOWN: tuple[tuple[str, int, float, float], ...] = (
    ("SPY", 2, 512.0, 70e6),
    ("QQQ", 3, 438.0, 42e6),
    ("IWM", 2, 205.0, 30e6),
    ("AAPL", 3, 189.0, 55e6),
    ("MSFT", 3, 415.0, 21e6),
    ("NVDA", 3, 118.0, 250e6),
    ("TSLA", 3, 178.0, 95e6),
    ("AMZN", 3, 182.0, 40e6),
    ("META", 3, 492.0, 15e6),
    ("GOOGL", 3, 171.0, 26e6),
    ("AMD", 3, 158.0, 50e6),
    ("INTC", 3, 31.0, 45e6),
    ("JPM", 1, 198.0, 9e6),
    ("BAC", 1, 38.5, 35e6),
    ("XOM", 1, 112.0, 16e6),
    ("F", 1, 12.1, 55e6),
    ("PLTR", 3, 24.3, 60e6),
    ("SOFI", 3, 7.2, 45e6),
    ("NIO", 1, 4.6, 50e6),
    ("T", 1, 17.4, 33e6),
)
TAPE_NYSE, TAPE_AMEX, TAPE_NASDAQ = 1, 2, 3


def tick_round(prices: np.ndarray) -> np.ndarray:
    """Round to the quoting increment: cents at $1 and above, 1/100 cent below."""
    return np.where(prices >= 1.0, np.round(prices, 2), np.round(prices, 4))


@dataclass(frozen=True)
class Universe:
    symbols: list[str]
    tape: np.ndarray  # 1 NYSE, 2 AMEX/Arca, 3 Nasdaq
    prev_close: np.ndarray  # the previous session's close: where today starts
    adv: np.ndarray  # average daily volume (shares)
    avg_size: np.ndarray  # average trade size (shares)
    daily_trades: np.ndarray  # expected trades per day
    sigma_daily: np.ndarray  # daily log-return volatility
    tier1: np.ndarray  # LULD tier 1 (5 % bands) vs tier 2

    @property
    def size(self) -> int:
        return len(self.symbols)

    def index(self) -> dict[str, int]:
        return {s: i for i, s in enumerate(self.symbols)}


def build_universe(seed: int, count: int) -> Universe:
    rng = np.random.default_rng([seed, 0xA11])
    known = WELL_KNOWN[: min(len(WELL_KNOWN), count)]
    n_gen = count - len(known)
    symbols = [k[0] for k in known] + _generated_tickers(rng, n_gen, {k[0] for k in known})

    price = np.exp(rng.normal(np.log(14.0), 1.25, n_gen)).clip(0.08, 2500.0)
    # Volume is heavy-tailed and cheaper stocks trade more shares.
    adv = (
        np.exp(rng.normal(np.log(260_000.0), 1.7, n_gen)) * (20.0 / np.maximum(price, 1.0)) ** 0.25
    )
    adv = adv.clip(3_000, 4e8)
    tape = rng.choice([TAPE_NYSE, TAPE_AMEX, TAPE_NASDAQ], n_gen, p=[0.32, 0.08, 0.60])

    price = np.concatenate([[k[2] for k in known], price])
    adv = np.concatenate([[k[3] for k in known], adv])
    tape = np.concatenate([[k[1] for k in known], tape]).astype(np.int64)
    avg_size = np.clip(600.0 / np.sqrt(np.maximum(price, 0.5)), 40.0, 1500.0)
    sigma = np.clip(
        0.012 + 0.05 / np.sqrt(np.maximum(price, 0.2)) + rng.gamma(2.0, 0.004, count), 0.008, 0.25
    )
    dollar_volume = price * adv
    tier1 = np.zeros(count, dtype=bool)
    tier1[np.argsort(-dollar_volume)[: max(1, count * 600 // 8200)]] = (
        True  # ~600 of 8,200, like the large caps and ETFs of tier 1
    )
    return Universe(
        symbols=symbols,
        tape=tape,
        prev_close=tick_round(price),
        adv=adv,
        avg_size=avg_size,
        daily_trades=np.maximum(adv / avg_size, 5.0),
        sigma_daily=sigma,
        tier1=tier1,
    )


def _generated_tickers(rng: np.random.Generator, n: int, taken: set[str]) -> list[str]:
    letters = np.array(list(string.ascii_uppercase))
    out: list[str] = []
    seen = set(taken)
    while len(out) < n:
        length = int(rng.choice([1, 2, 3, 4], p=[0.01, 0.07, 0.37, 0.55]))
        sym = "".join(rng.choice(letters, length))
        if sym not in seen:
            seen.add(sym)
            out.append(sym)
    return out


@dataclass(frozen=True)
class History:
    """Daily bars of the past sessions, oldest first: arrays shaped (symbols, sessions)."""

    sessions: list[date]
    o: np.ndarray
    h: np.ndarray
    l: np.ndarray
    c: np.ndarray
    v: np.ndarray
    vw: np.ndarray
    n: np.ndarray

    def session_index(self, day: date) -> int | None:
        try:
            return self.sessions.index(day)
        except ValueError:
            return None


def build_history(universe: Universe, today: date, days: int, seed: int) -> History:
    """``days`` past sessions ending with the previous session, whose close is ``prev_close``."""
    sessions: list[date] = []
    d = today
    for _ in range(days):
        d = markettime.previous_trading_day(d)
        sessions.append(d)
    sessions.reverse()
    rng = np.random.default_rng([seed, 0x415])
    n, sig = universe.size, universe.sigma_daily[:, None]
    returns = rng.normal(0.0, 1.0, (n, days)) * sig
    log_c = (
        np.log(universe.prev_close)[:, None]
        - np.cumsum(returns[:, ::-1], axis=1)[:, ::-1]
        + returns
    )
    c = tick_round(np.exp(log_c))
    c[:, -1] = universe.prev_close
    prev = np.concatenate([c[:, :1] * np.exp(-returns[:, :1]), c[:, :-1]], axis=1)
    o = tick_round(prev * np.exp(rng.normal(0.0, 0.3, (n, days)) * sig))
    step = np.where(c >= 1.0, 0.01, 0.0001)
    h = np.maximum(
        tick_round(np.maximum(o, c) * np.exp(np.abs(rng.normal(0, 0.5, (n, days))) * sig)),
        np.maximum(o, c) + step,
    )
    l = np.minimum(
        tick_round(np.minimum(o, c) * np.exp(-np.abs(rng.normal(0, 0.5, (n, days))) * sig)),
        np.minimum(o, c) - step,
    )
    l = np.maximum(l, step)
    v = np.round(universe.adv[:, None] * np.exp(rng.normal(-0.12, 0.5, (n, days)))).astype(np.int64)
    trades = np.maximum(1, np.round(v / universe.avg_size[:, None])).astype(np.int64)
    vw = np.round((h + l + 2 * c) / 4.0, 4)
    return History(sessions=sessions, o=o, h=h, l=l, c=c, v=v, vw=vw, n=trades)


@dataclass(frozen=True)
class MinuteBars:
    """One ticker's minute bars for one past session (only minutes with trades)."""

    t: np.ndarray  # window start, Unix ms
    o: np.ndarray
    h: np.ndarray
    l: np.ndarray
    c: np.ndarray
    v: np.ndarray
    vw: np.ndarray
    n: np.ndarray


def minute_bars(
    universe: Universe, history: History, sym: int, session: int, seed: int
) -> MinuteBars:
    """Minute bars of a past session that add up to its daily bar (volume, trades, open, close,
    high, low), shaped by the same intraday profile the live feed follows."""
    day = history.sessions[session]
    rng = np.random.default_rng([seed, 0x313, sym, session])
    close_s = _close_seconds(day)
    weights = np.asarray(minute_weights(close_s))
    o, h, l, c = (float(a[sym, session]) for a in (history.o, history.h, history.l, history.c))
    v, n = int(history.v[sym, session]), int(history.n[sym, session])

    expected = weights * n
    counts = rng.poisson(expected)
    open_minute, close_minute = 9 * 60 + 30, close_s // 60 - 1
    counts[open_minute] = max(counts[open_minute], 1)
    counts[close_minute] = max(counts[close_minute], 1)
    minutes = np.nonzero(counts)[0]
    counts = counts[minutes]
    share = counts * np.exp(rng.normal(0.0, 0.4, len(minutes)))
    vols = _largest_remainder(share / share.sum() * v)
    keep = vols > 0
    keep[minutes == open_minute] = keep[minutes == close_minute] = True
    minutes, counts, vols = minutes[keep], counts[keep], vols[keep]

    # Price path: a Brownian bridge from the open (09:30) to the close (last regular minute),
    # mapped monotonically so that it spans exactly [low, high]; extended hours stay near o / c.
    path = np.empty(len(minutes))
    reg = (minutes >= open_minute) & (minutes <= close_minute)
    k = int(reg.sum())
    steps = rng.normal(0.0, 1.0, k)
    walk = np.cumsum(steps) - np.arange(1, k + 1) / k * steps.sum()
    walk = np.concatenate([[0.0], walk[:-1]]) if k > 1 else np.zeros(k)
    walk[-1] = 0.0
    frac = np.linspace(0.0, 1.0, k) if k > 1 else np.zeros(k)
    raw = o + (c - o) * frac + walk * (h - l) / max(1.0, np.ptp(walk) if k > 1 else 1.0)
    path[reg] = _span(raw, o, c, l, h)
    ext = ~reg
    anchor = np.where(minutes[ext] < open_minute, o, c)
    path[ext] = np.clip(anchor * np.exp(rng.normal(0.0, 0.002, int(ext.sum()))), l, h)
    path = tick_round(path)

    opens = np.concatenate([[path[0]], path[:-1]])
    opens[reg.argmax()] = o  # first regular minute opens at the official open
    hi = np.maximum(opens, path)
    lo = np.minimum(opens, path)
    wiggle = np.abs(rng.normal(0.0, 0.001, len(path)))
    hi = np.minimum(tick_round(hi * (1 + wiggle)), h)
    lo = np.maximum(tick_round(lo * (1 - wiggle)), l)
    vw = np.round((hi + lo + opens + path) / 4.0, 4)
    midnight = markettime.et_ms(day, time(0, 0))
    return MinuteBars(
        t=midnight + minutes.astype(np.int64) * 60_000,
        o=opens,
        h=hi,
        l=lo,
        c=path,
        v=vols,
        vw=vw,
        n=np.maximum(counts, 1),
    )


def _span(raw: np.ndarray, o: float, c: float, low: float, high: float) -> np.ndarray:
    """Monotone piecewise-linear map sending min(raw)->low, max(raw)->high, keeping o and c."""
    lo_r, hi_r = float(raw.min()), float(raw.max())
    a, b = min(o, c), max(o, c)
    xs = [lo_r, a, b, hi_r]
    ys = [low, a, b, high]
    if lo_r >= a:  # the path never dips below its ends: make its lowest interior point the low
        inner = raw[1:-1] if len(raw) > 2 else raw
        j = int(np.argmin(inner)) + (1 if len(raw) > 2 else 0)
        raw = raw.copy()
        raw[j] = a - 1e-9
        xs[0] = a - 1e-9
    if hi_r <= b:
        inner = raw[1:-1] if len(raw) > 2 else raw
        j = int(np.argmax(inner)) + (1 if len(raw) > 2 else 0)
        raw = raw.copy()
        raw[j] = b + 1e-9
        xs[3] = b + 1e-9
    if xs[1] == xs[2]:
        xs[2] += 1e-12
    shaped: np.ndarray = np.interp(raw, xs, ys)
    return shaped


def _largest_remainder(x: np.ndarray) -> np.ndarray:
    """Round non-negative reals to integers with the same (rounded) total."""
    floor: np.ndarray = np.floor(x).astype(np.int64)
    short = round(float(x.sum())) - int(floor.sum())
    if short > 0:
        floor[np.argsort(-(x - floor))[:short]] += 1
    return floor


def _close_seconds(day: date) -> int:
    close = markettime.regular_close(day)
    return close.hour * 3600 + close.minute * 60
