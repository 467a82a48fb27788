"""The market model: one ET trading day, generated a whole second at a time with numpy.

Per second, every ticker draws its number of trades from its daily trade count times the
intraday profile (most draw zero); the few that trade move along a random walk (plus the day's
scenario: pre-market gappers on "news", momentum runners), print trades with sizes, exchanges
and conditions, and their per-second ``A`` bar is built *from those trades* with Massive's
consolidated rules (``stampede.conditions``): volume from volume-eligible trades, open/close
from last-eligible ones, high/low from high/low-eligible ones, VWAPs from the same sums. Minute
(``AM``) bars are the sums of the second bars. LULD bands follow a 5-minute-ish reference price;
a runner that sits at its upper band for 15 s is halted for 5 minutes (indicator 17) and then
resumed (18).

Everything is deterministic: the random stream of second ``s`` is seeded by (seed, day, s), so
the same seed, day and start produce the same events whatever the wall-clock pacing.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from datetime import date, time

import numpy as np

from stampede import markettime
from stampede.market import Channel
from stampede.sim.columns import (
    AVG_PRICE,
    CASH,
    FORM_T,
    HIGH_LOW_ONLY,
    LULD_HALT_CODE,
    LULD_RESUME_CODE,
    ODD_LOT,
    ODD_SWEEP,
    REGULAR,
    SWEEP,
    TRADE_THRU,
    UPDATES_HIGH_LOW,
    UPDATES_LAST,
    UPDATES_VOLUME,
    Columns,
)
from stampede.sim.corrections import corrected, late_trades
from stampede.sim.load import LoadCounts, LoadShape
from stampede.sim.profile import AFTER_HOURS_END, PREMARKET_START, REGULAR_START, second_weights
from stampede.sim.universe import TAPE_NASDAQ, History, Universe, tick_round

EXCHANGES = np.array([4, 12, 11, 10, 8, 19, 15, 17, 21, 7])  # 4 = FINRA TRF (off-exchange)
EXCHANGE_P = np.array([0.36, 0.16, 0.09, 0.08, 0.08, 0.05, 0.05, 0.05, 0.05, 0.03])
SECONDS_PER_SESSION = 23_400
LULD_REF_TAU = 150.0  # s: the band reference follows a ~5-minute mean of the price
LULD_LIMIT_STATE_MS = 15_000
HALT_MS = 300_000
LOAD_REVERSION_S = (
    300.0  # load mode: a price forgets its deviation from the reference in ~5 minutes
)
LOAD_BAND = 0.10  # load mode: log-price stays within ±10 % of the reference (a LULD-like band)


@dataclass(frozen=True, slots=True)
class Gapper:
    sym: int
    news_s: int  # ET second of the "news"
    factor: float  # price jump


@dataclass(frozen=True, slots=True)
class Runner:
    sym: int
    start_s: int
    duration_s: int
    log_return: float


@dataclass(slots=True)
class SecondOutput:
    """What one simulated second produced, per channel (``None`` when nothing)."""

    second: int
    trades: Columns | None = None
    quotes: Columns | None = None
    bars: Columns | None = None
    minute_bars: Columns | None = None
    luld: Columns | None = None
    imbalances: Columns | None = None
    corrections: Columns | None = None  # A bars of this second sent again with late trades

    def batches(self) -> list[Columns]:
        return [
            b
            for b in (
                self.trades,
                self.quotes,
                self.bars,
                self.minute_bars,
                self.luld,
                self.imbalances,
                self.corrections,  # last: due after this second's bars, before the next's
            )
            if b is not None and len(b)
        ]


class MarketModel:
    def __init__(
        self,
        universe: Universe,
        history: History,
        day: date,
        seed: int,
        rate: int | None = None,
        shape: LoadShape = LoadShape.UNIFORM,
        activity: float = 1.0,
        correction_rate: float = 0.0,
    ) -> None:
        self.u, self.history, self.day, self.seed, self.rate = universe, history, day, seed, rate
        self.correction_rate = 0.0 if rate else correction_rate  # load mode: exact rates
        n = universe.size
        self.midnight_ms = markettime.et_ms(day, time(0, 0))
        close = markettime.regular_close(day)
        self.close_s = close.hour * 3600 + close.minute * 60
        self.weights = second_weights(self.close_s)
        # Prices diffuse with trading activity, not calendar time: the variance between two
        # instants is the daily variance times the share of a regular session's activity between them.
        self.cum_weights = np.concatenate([[0.0], np.cumsum(self.weights)])
        self.regular_weight = float(self.weights[REGULAR_START : self.close_s].sum())
        self.trade_rate = universe.daily_trades * activity
        self.load = LoadCounts(rate, universe.daily_trades, shape) if rate else None
        self.sigma_s = universe.sigma_daily / math.sqrt(SECONDS_PER_SESSION)
        self.prev_close = history.c[:, -1].copy()

        self.mid = universe.prev_close.astype(np.float64).copy()
        self.last = np.full(n, np.nan)
        self.av = np.zeros(n, dtype=np.int64)
        self.dollars = np.zeros(n)
        self.op = np.zeros(n)
        self.day_high = np.full(n, -np.inf)
        self.day_low = np.full(n, np.inf)
        self.seq = np.zeros(n, dtype=np.int64)
        self.last_move = np.full(n, PREMARKET_START, dtype=np.int64)
        self.boost = np.ones(n)
        self.drift = np.zeros(n)
        self.drift_from = np.zeros(n, dtype=np.int64)  # when the runner's drift began
        self.trade_id = 0
        self.quote_seq = np.zeros(n, dtype=np.int64)
        self.aux_seq = 0
        # last trade / quote for REST snapshots
        self.last_trade = {
            k: np.zeros(n, dtype=d)
            for k, d in (
                ("p", float),
                ("s", np.int64),
                ("t", np.int64),
                ("x", np.int64),
                ("i", np.int64),
                ("c", np.int64),
            )
        }
        self.last_quote = {
            k: np.zeros(n, dtype=d)
            for k, d in (
                ("p", float),
                ("s", np.int64),
                ("P", float),
                ("S", np.int64),
                ("t", np.int64),
            )
        }
        # LULD
        self.luld_ref = np.zeros(n)
        self.luld_pub = np.zeros(n)  # published reference; 0 = no bands yet
        self.halted_until = np.zeros(n, dtype=np.int64)
        self.limit_since = np.zeros(n, dtype=np.int64)
        self.luld_seq = np.zeros(n, dtype=np.int64)
        # minute accumulators and the last finished minute (REST ``min``)
        self.m_v = np.zeros(n, dtype=np.int64)
        self.m_d = np.zeros(n)
        self.m_n = np.zeros(n, dtype=np.int64)
        self.m_o = np.full(n, np.nan)
        self.m_h = np.full(n, -np.inf)
        self.m_l = np.full(n, np.inf)
        self.m_c = np.zeros(n)
        self.last_minute: Columns | None = None
        self.gappers, self.runners = self._scenario()

    # ------------------------------------------------------------------ scenario
    def _scenario(self) -> tuple[list[Gapper], list[Runner]]:
        """A handful of pre-market gappers on news and intraday momentum runners."""
        rng = np.random.default_rng([self.seed, 0x5CE, self.day.toordinal()])
        u = self.u
        small = np.nonzero((u.prev_close >= 1.0) & (u.prev_close <= 30.0) & ~u.tier1)[0]
        picks = (
            rng.choice(small, min(len(small), 26), replace=False)
            if len(small)
            else np.array([], int)
        )
        gappers = []
        for j, sym in enumerate(picks[:14]):
            news = int(
                rng.choice(
                    [
                        7 * 3600,
                        8 * 3600,
                        int(rng.integers(PREMARKET_START + 60, REGULAR_START - 900)),
                    ]
                )
            )
            up = j % 3 != 2
            factor = math.exp(rng.uniform(0.08, 0.6)) if up else math.exp(-rng.uniform(0.06, 0.3))
            gappers.append(Gapper(int(sym), news, factor))
        nasdaq = [int(s) for s in picks[14:] if u.tape[s] == TAPE_NASDAQ] + [
            int(s) for s in picks[14:] if u.tape[s] != TAPE_NASDAQ
        ]
        runners = []
        for j, sym in enumerate(nasdaq[:10]):
            start = REGULAR_START + (
                int(rng.integers(30, 240))
                if j < 3
                else int(rng.integers(300, self.close_s - REGULAR_START - 2400))
            )
            runners.append(
                Runner(sym, start, int(rng.integers(180, 900)), float(rng.uniform(0.15, 0.7)))
            )
        return gappers, runners

    def _apply_scenario(self, s: int, span: int = 1) -> None:
        """Gap on news, boost activity after it; runners drift up on heavy volume."""
        for g in self.gappers:
            if s <= g.news_s < s + span:
                self.mid[g.sym] = self.mid[g.sym] * g.factor
            if g.news_s <= s:
                self.boost[g.sym] = 1.0 + 30.0 * math.exp(-(s - g.news_s) / 2400.0)
        for r in self.runners:
            active = r.start_s <= s < r.start_s + r.duration_s
            self.drift[r.sym] = r.log_return / r.duration_s if active else 0.0
            self.drift_from[r.sym] = r.start_s
            self.boost[r.sym] = 25.0 if active else max(1.0, self.boost[r.sym] * 0.995)

    # ------------------------------------------------------------------ sessions
    def session(self, s: int) -> str:
        if self.rate:
            return "regular"
        if not PREMARKET_START <= s < AFTER_HOURS_END:
            return "closed"
        if s < REGULAR_START:
            return "premarket"
        return "regular" if s < self.close_s else "after_hours"

    def band_pct(self, syms: np.ndarray, s: int) -> np.ndarray:
        price = np.maximum(self.luld_pub[syms], 0.0001)
        pct = np.where(
            self.u.tier1[syms],
            0.05,
            np.where(
                price > 3.0, 0.10, np.where(price >= 0.75, 0.20, np.minimum(0.15 / price, 0.75))
            ),
        )
        if s < REGULAR_START + 900 or s >= self.close_s - 1500:
            pct = pct * 2.0
        return pct

    def bands(self, syms: np.ndarray, s: int) -> tuple[np.ndarray, np.ndarray]:
        pct = self.band_pct(syms, s)
        ref = self.luld_pub[syms]  # the bands clients were told
        return tick_round(ref * (1 + pct)), tick_round(np.maximum(ref * (1 - pct), 0.0001))

    # ------------------------------------------------------------------ fast-forward
    def fast_forward(self, until_s: int, chunk: int = 100, span_s: int = 300) -> None:
        """Advance from 04:00 to ``until_s`` without events, in 5-minute steps, a block of
        steps at a time (numpy over tickers x steps): accumulated volume, VWAP, official open,
        highs and prices as if the day had run, so even a start at 19:59 takes a fraction of
        a second. Only the market mode has a day to catch up on (load mode starts fresh)."""
        spans = [
            (a, min(a + span_s, until_s))
            for a in range(PREMARKET_START, until_s, span_s)
            if self.session(a) != "closed"
        ]
        for j in range(0, len(spans), chunk):
            self._advance(spans[j : j + chunk])
        regular_seen = self.op > 0
        self.luld_ref[regular_seen] = self.luld_pub[regular_seen] = np.nan_to_num(
            self.last[regular_seen]
        )

    def _advance(self, spans: list[tuple[int, int]]) -> None:
        n, m = self.u.size, len(spans)
        rng = np.random.default_rng([self.seed, 0xFF, self.day.toordinal(), spans[0][0]])
        s0 = np.array([a for a, _ in spans])
        length = np.array([b - a for a, b in spans], dtype=np.float64)
        w = np.array([self.weights[a:b].sum() for a, b in spans])
        boost = np.ones((n, m))
        drift = np.zeros((n, m))
        jump = np.zeros((n, m))
        for g in self.gappers:
            after = s0 >= g.news_s
            boost[g.sym] = np.where(after, 1.0 + 30.0 * np.exp(-(s0 - g.news_s) / 2400.0), 1.0)
            hit = (s0 <= g.news_s) & (g.news_s < s0 + length)
            jump[g.sym, hit] = math.log(g.factor)
        for r in self.runners:
            active = (s0 >= r.start_s) & (s0 < r.start_s + r.duration_s)
            boost[r.sym, active] = 25.0
            drift[r.sym, active] = r.log_return / r.duration_s * length[active]
        lam = self.trade_rate[:, None] * w[None, :] * boost
        counts = rng.poisson(lam)
        traded = counts > 0
        scale = np.sqrt(w / self.regular_weight)
        steps = (
            rng.standard_normal((n, m)) * (self.u.sigma_daily[:, None] * scale[None, :])
            + drift
            + jump
        )
        path = self.mid[:, None] * np.exp(np.cumsum(steps, axis=1))
        vol = counts * self.u.avg_size[:, None]  # shares: trades x average size
        rows = np.nonzero(traded.any(axis=1))[0]
        last_col = m - 1 - np.argmax(traded[rows, ::-1], axis=1)
        wig = 1 + np.abs(rng.standard_normal(n)) * self.sigma_s * 4
        self.av += np.round(vol.sum(axis=1)).astype(np.int64)
        self.dollars += (vol * path).sum(axis=1)
        self.last[rows] = tick_round(path[rows, last_col])
        self.last_move[rows] = (s0 + length.astype(np.int64))[last_col]
        self.day_high[rows] = np.maximum(
            self.day_high[rows],
            tick_round(np.where(traded[rows], path[rows], -np.inf).max(axis=1) * wig[rows]),
        )
        self.day_low[rows] = np.minimum(
            self.day_low[rows],
            tick_round(np.where(traded[rows], path[rows], np.inf).min(axis=1) / wig[rows]),
        )
        self.mid = path[:, -1].copy()
        self.seq += counts.sum(axis=1) * 3
        self.trade_id += int(counts.sum())
        regular_cols = np.array([self.session(a) == "regular" for a in s0])
        if regular_cols.any():
            opening = traded & regular_cols[None, :]
            new_open = np.nonzero(opening.any(axis=1) & (self.op == 0))[0]
            first = np.argmax(opening[new_open], axis=1)
            before = np.where(
                first > 0, path[new_open, np.maximum(first - 1, 0)], self.mid[new_open]
            )
            self.op[new_open] = tick_round(before)

    # ------------------------------------------------------------------ one second
    def step(self, s: int) -> SecondOutput:
        out = SecondOutput(s)
        session = self.session(s)
        if session != "closed":
            self._trade_second(s, session, out)
        if s % 60 == 59:
            out.minute_bars = self._flush_minute(s - 59)
        return out

    def _counts(self, s: int, rng: np.random.Generator, t0: int) -> np.ndarray:
        if self.load is not None:  # load mode: a fixed number of events in the chosen shape
            return self.load.draw(rng)
        lam = self.trade_rate * self.weights[s] * self.boost
        lam[self.halted_until > t0] = 0.0
        counts: np.ndarray = rng.poisson(lam)
        return counts

    def _trade_second(self, s: int, session: str, out: SecondOutput) -> None:
        t0 = self.midnight_ms + s * 1000
        rng = np.random.default_rng([self.seed, self.day.toordinal(), s])
        if not self.rate:  # load mode is uniform: no gappers, no runners
            self._apply_scenario(s)
        regular = session == "regular"
        luld_rows: list[tuple[np.ndarray, np.ndarray]] = []  # (syms, indicator)
        if regular and not self.rate:
            luld_rows.append(self._resume(s, t0, rng))
        counts = self._counts(s, rng, t0)
        a = np.nonzero(counts)[0]
        if len(a):
            self._prints(s, t0, a, counts[a], rng, regular, out, luld_rows)
        if regular and not self.rate:
            luld_rows.append(self._band_updates(s))
            out.luld = self._luld_columns(s, t0, luld_rows)
            out.imbalances = self._imbalances(s, t0, rng)

    def _prints(
        self,
        s: int,
        t0: int,
        a: np.ndarray,
        n: np.ndarray,
        rng: np.random.Generator,
        regular: bool,
        out: SecondOutput,
        luld_rows: list[tuple[np.ndarray, np.ndarray]],
    ) -> None:
        k = int(n.sum())
        old = self.mid[a]
        dt = np.maximum(s - self.last_move[a], 1)
        if self.rate:
            new = self._load_walk(a, dt, rng)
        else:
            share = (
                self.cum_weights[s + 1] - self.cum_weights[np.minimum(self.last_move[a], s)]
            ) / self.regular_weight
            std = self.u.sigma_daily[a] * np.sqrt(share)
            # A runner drifts only while it runs: a thin ticker's first move of its run may
            # follow hours without one, and drift over all of them once gave prices of 1e20.
            drifting = s - np.maximum(self.last_move[a], self.drift_from[a])
            new = old * np.exp(rng.standard_normal(len(a)) * std + self.drift[a] * drifting)
        if regular and not self.rate:
            new = self._limit_states(s, t0, a, new, luld_rows)
        self.mid[a] = new
        self.last_move[a] = s

        starts = np.concatenate([[0], np.cumsum(n)[:-1]])
        group = np.repeat(np.arange(len(a)), n)
        sym = a[group]
        offs = (
            np.sort(rng.integers(0, 1000, k) + group * 1000) - group * 1000
        )  # sorted within group
        rank = np.arange(k) - starts[group]
        frac = (rank + 1) / n[group]
        p_old, p_new = old[group], new[group]
        half = np.maximum(np.where(p_new >= 1, 0.01, 0.0001), p_new * 0.0004)
        price = p_old + (p_new - p_old) * frac + rng.uniform(-1, 1, k) * half

        odd = rng.random(k) < 0.4
        size = np.where(odd, rng.integers(1, 100, k), 100 * rng.geometric(0.45, k))
        block = rng.random(k) < 0.004
        size[block] *= rng.integers(10, 120, int(block.sum()))
        u = rng.random(k)
        cond = np.where(
            odd,
            np.where(u < 0.15, ODD_SWEEP, ODD_LOT),
            np.select(
                [u < 0.15, u < 0.17, u < 0.18, u < 0.185, u < 0.19],
                [SWEEP, TRADE_THRU, AVG_PRICE, CASH, HIGH_LOW_ONLY],
                REGULAR,
            ),
        )
        if not regular:
            cond = np.where(~odd & (rng.random(k) < 0.05), FORM_T, cond)
        cond[starts] = REGULAR  # each ticker-second has an eligible print: the bar has a price
        size[starts] = np.maximum(size[starts], 100)
        off_price = ~UPDATES_LAST[cond]
        price = np.where(off_price, p_new * (1 + rng.normal(0, 0.003, k)), price)
        price = tick_round(np.maximum(price, 0.0001))
        t = t0 + offs

        vol_ok, last_ok, hl_ok = UPDATES_VOLUME[cond], UPDATES_LAST[cond], UPDATES_HIGH_LOW[cond]
        vsize = np.where(vol_ok, size, 0)
        v = np.add.reduceat(vsize, starts)
        dsum = np.add.reduceat(vsize * price, starts)
        nvol = np.add.reduceat(vol_ok.astype(np.int64), starts)
        idx = np.arange(k)
        o = price[starts]
        c = price[np.maximum.reduceat(np.where(last_ok, idx, -1), starts)]
        h = np.maximum.reduceat(np.where(hl_ok, price, -np.inf), starts)
        lo = np.minimum.reduceat(np.where(hl_ok, price, np.inf), starts)

        self.av[a] += v
        self.dollars[a] += dsum
        self.last[a] = c
        self.day_high[a] = np.maximum(self.day_high[a], h)
        self.day_low[a] = np.minimum(self.day_low[a], lo)
        if regular:
            opening = self.op[a] == 0
            self.op[a[opening]] = o[opening]
            if not self.rate:
                self.luld_ref[a[opening]] = o[opening]
        self._accumulate_minute(a, v, dsum, nvol, o, h, lo, c)

        inc = rng.integers(1, 4, k)
        q = self.seq[sym] + np.cumsum(inc) - np.repeat(np.cumsum(inc)[starts] - inc[starts], n)
        self.seq[a] = q[np.concatenate([starts[1:], [k]]) - 1]
        x = rng.choice(EXCHANGES, k, p=EXCHANGE_P)
        trf = x == 4
        trfi = np.where(trf, np.where(rng.random(k) < 0.7, 201, 202), 0)
        trft = np.where(trf, t - rng.integers(0, 40, k), 0)
        order = np.argsort(t, kind="stable")
        ids = self.trade_id + np.arange(1, k + 1)
        self.trade_id += k
        ends = np.concatenate([starts[1:], [k]]) - 1
        lt = self.last_trade
        lt["p"][a], lt["s"][a], lt["t"][a], lt["x"][a], lt["c"][a] = (
            price[ends],
            size[ends],
            t[ends],
            x[ends],
            cond[ends],
        )
        lt["i"][a] = ids[np.argsort(order)][ends]
        out.trades = Columns(
            Channel.TRADE,
            sym[order],
            t[order],
            {
                "p": price[order],
                "s": size[order],
                "t": t[order],
                "x": x[order],
                "i": ids,
                "z": self.u.tape[sym][order],
                "c": cond[order],
                "q": q[order],
                "trfi": trfi[order],
                "trft": trft[order],
            },
        )

        tape = self.u.tape[a]
        e = np.full(len(a), t0 + 1000, dtype=np.int64)
        out.bars = Columns(
            Channel.AGGREGATE,
            a,
            e,
            {
                "v": v,
                "av": self.av[a].copy(),
                "op": self.op[a].copy(),
                "vw": np.round(dsum / v, 4),
                "o": o,
                "c": c,
                "h": h,
                "l": lo,
                "a": np.round(self.dollars[a] / self.av[a], 4),
                "z": np.maximum(np.round(v / np.maximum(nvol, 1)), 1).astype(np.int64),
                "s": e - 1000,
                "e": e,
            },
        )
        if self.correction_rate:
            out.corrections = self._late_trades(s, out.bars)
        qhalf = np.maximum(np.where(c >= 1, 0.01, 0.0001), c * 0.0005 * (1 + rng.random(len(a))))
        bp, ap = tick_round(np.maximum(c - qhalf, 0.0001)), tick_round(c + qhalf)
        ap = np.maximum(ap, bp + np.where(bp >= 1, 0.01, 0.0001))
        qt = t[ends]
        self.quote_seq[a] += rng.integers(1, 6, len(a))
        bs, as_ = rng.integers(1, 30, len(a)), rng.integers(1, 30, len(a))
        lq = self.last_quote
        lq["p"][a], lq["s"][a], lq["P"][a], lq["S"][a], lq["t"][a] = bp, bs, ap, as_, qt
        qorder = np.argsort(qt, kind="stable")
        out.quotes = Columns(
            Channel.QUOTE,
            a[qorder],
            qt[qorder],
            {
                "bx": rng.choice(EXCHANGES[1:], len(a))[qorder],
                "bp": bp[qorder],
                "bs": bs[qorder],
                "ax": rng.choice(EXCHANGES[1:], len(a))[qorder],
                "ap": ap[qorder],
                "as": as_[qorder],
                "t": qt[qorder],
                "q": self.quote_seq[a][qorder],
                "z": tape[qorder],
            },
        )

    def _load_walk(self, a: np.ndarray, dt: np.ndarray, rng: np.random.Generator) -> np.ndarray:
        """Next prices of tickers ``a`` in load mode, which runs for hours at any rate: a
        mean-reverting walk (an exact Ornstein-Uhlenbeck step in log price, the per-second
        volatility of each ticker) around its reference price, clipped to a LULD-like band, so
        prices stay realistic however long the load runs."""
        ref = self.u.prev_close[a].astype(np.float64)
        keep = np.exp(-dt / LOAD_REVERSION_S)
        spread = self.sigma_s[a] * np.sqrt(LOAD_REVERSION_S / 2 * (1 - keep**2))
        x = np.log(self.mid[a] / ref) * keep + rng.standard_normal(len(a)) * spread
        prices: np.ndarray = ref * np.exp(np.clip(x, -LOAD_BAND, LOAD_BAND))
        return prices

    # ------------------------------------------------------------------ LULD
    def _limit_states(
        self,
        s: int,
        t0: int,
        a: np.ndarray,
        new: np.ndarray,
        luld_rows: list[tuple[np.ndarray, np.ndarray]],
    ) -> np.ndarray:
        banded = self.luld_pub[a] > 0
        if not banded.any():
            return new
        upper, lower = self.bands(a, s)
        clipped = np.clip(new, lower, upper)
        at_limit = banded & (clipped != new)
        new = np.where(banded, clipped, new)
        since = self.limit_since[a]
        self.limit_since[a] = np.where(at_limit, np.where(since > 0, since, t0), 0)
        halt = (
            at_limit
            & (since > 0)
            & (t0 - since >= LULD_LIMIT_STATE_MS)
            & (self.u.tape[a] == TAPE_NASDAQ)
        )
        if halt.any():
            syms = a[halt]
            self.halted_until[syms] = t0 + HALT_MS
            self.limit_since[syms] = 0
            luld_rows.append((syms, np.full(len(syms), LULD_HALT_CODE)))
        return new

    def _resume(self, s: int, t0: int, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
        syms = np.nonzero((self.halted_until > 0) & (self.halted_until <= t0))[0]
        if len(syms):
            self.halted_until[syms] = 0
            self.mid[syms] *= np.exp(rng.normal(0.02, 0.06, len(syms)))
            self.luld_ref[syms] = self.luld_pub[syms] = tick_round(self.mid[syms])
        return syms, np.full(len(syms), LULD_RESUME_CODE)

    def _band_updates(self, s: int) -> tuple[np.ndarray, np.ndarray]:
        """Bands are (re)published when a ticker opens, when its reference moves 1 %, and when
        the band width changes (09:45 and 25 minutes before the close); not during a limit state,
        so a runner pinned at its band for 15 s is halted."""
        opened = self.op > 0
        # no new bands while halted or in a limit state (as the LULD plan has it)
        live = opened & (self.halted_until == 0) & (self.limit_since == 0)
        alpha = 1 - math.exp(-1 / LULD_REF_TAU)
        last = np.where(np.isnan(self.last), self.luld_ref, self.last)
        self.luld_ref[live] += (last[live] - self.luld_ref[live]) * alpha
        first = live & (self.luld_pub == 0)
        moved = (
            live
            & (self.luld_pub > 0)
            & (np.abs(self.luld_ref - self.luld_pub) >= 0.01 * self.luld_pub)
        )
        if s in (REGULAR_START + 900, self.close_s - 1500):
            moved |= live & (self.luld_pub > 0)
        syms = np.nonzero(first | moved)[0]
        self.luld_pub[syms] = self.luld_ref[syms]
        return syms, np.zeros(len(syms), dtype=np.int64)

    def _luld_columns(
        self, s: int, t0: int, rows: list[tuple[np.ndarray, np.ndarray]]
    ) -> Columns | None:
        rows = [r for r in rows if len(r[0])]
        if not rows:
            return None
        syms = np.concatenate([r[0] for r in rows])
        ind = np.concatenate([r[1] for r in rows]).astype(np.int64)
        upper, lower = self.bands(syms, s)
        self.luld_seq[syms] += 1
        # a resume opens the second (its trades follow); halts and band changes close it
        t_ms = np.where(ind == LULD_RESUME_CODE, t0, t0 + 999).astype(np.int64)
        return Columns(
            Channel.LULD,
            syms,
            t_ms,
            {
                "h": upper,
                "l": lower,
                "i": ind,
                "z": self.u.tape[syms],
                "t": t_ms * 1000,  # microseconds, as Massive's example
                "q": self.luld_seq[syms].copy(),
            },
        )

    # ------------------------------------------------------------------ NOI
    def _imbalances(self, s: int, t0: int, rng: np.random.Generator) -> Columns | None:
        opening = REGULAR_START - 120 <= s < REGULAR_START
        closing = self.close_s - 600 <= s < self.close_s
        if not (opening or closing) or s % 5:
            return None
        pool = np.nonzero(self.u.tier1)[0]
        syms = np.sort(rng.choice(pool, min(len(pool), 60), replace=False))
        k = len(syms)
        self.aux_seq += k
        t_ms = np.full(k, t0 + 250, dtype=np.int64)
        hhmm = 930 if opening else (self.close_s // 3600) * 100 + (self.close_s % 3600) // 60
        return Columns(
            Channel.IMBALANCE,
            syms,
            t_ms,
            {
                "t": t_ms * 1_000_000,  # nanoseconds, as Massive's example
                "at": np.full(k, hhmm),
                "a": np.full(k, "O" if opening else "C"),
                "x": np.where(self.u.tape[syms] == TAPE_NASDAQ, 12, 10),
                "o": rng.integers(1, 500, k) * 100,
                "p": rng.integers(1, 5000, k) * 100,
                "b": tick_round(self.mid[syms] * (1 + rng.normal(0, 0.002, k))),
                "q": self.aux_seq - k + np.arange(1, k + 1),
            },
        )

    def _late_trades(self, s: int, bars: Columns) -> Columns | None:
        """Late trades for a few of this second's bars (own random stream, so the rest of the
        market is the same with corrections on or off): added to the day, and the corrected
        bars returned to be sent after the originals (``corrections.py``)."""
        rng = np.random.default_rng([self.seed, self.day.toordinal(), s, 1])
        rows, size, price = late_trades(rng, bars, self.correction_rate)
        if not len(rows):
            return None
        a = bars.sym[rows]
        self.av[a] += size
        self.dollars[a] += price * size
        self.last[a] = price
        self.day_high[a] = np.maximum(self.day_high[a], price)
        self.day_low[a] = np.minimum(self.day_low[a], price)
        one = np.ones(len(a), dtype=np.int64)
        self._accumulate_minute(a, size, price * size, one, self.m_o[a], price, price, price)
        return corrected(bars, rows, size, price, np.round(self.dollars[a] / self.av[a], 4))

    # ------------------------------------------------------------------ minutes
    def _accumulate_minute(
        self,
        a: np.ndarray,
        v: np.ndarray,
        dsum: np.ndarray,
        nvol: np.ndarray,
        o: np.ndarray,
        h: np.ndarray,
        lo: np.ndarray,
        c: np.ndarray,
    ) -> None:
        self.m_v[a] += v
        self.m_d[a] += dsum
        self.m_n[a] += nvol
        self.m_o[a] = np.where(np.isnan(self.m_o[a]), o, self.m_o[a])
        self.m_h[a] = np.maximum(self.m_h[a], h)
        self.m_l[a] = np.minimum(self.m_l[a], lo)
        self.m_c[a] = c

    def _flush_minute(self, minute_s: int) -> Columns | None:
        a = np.nonzero(self.m_v)[0]
        cols = None
        if len(a):
            start = self.midnight_ms + minute_s * 1000
            e = np.full(len(a), start + 60_000, dtype=np.int64)
            v = self.m_v[a]
            cols = Columns(
                Channel.MINUTE_AGGREGATE,
                a,
                e,
                {
                    "v": v,
                    "av": self.av[a].copy(),
                    "op": self.op[a].copy(),
                    "vw": np.round(self.m_d[a] / v, 4),
                    "o": self.m_o[a],
                    "c": self.m_c[a].copy(),
                    "h": self.m_h[a],
                    "l": self.m_l[a],
                    "a": np.round(self.dollars[a] / self.av[a], 4),
                    "z": np.maximum(np.round(v / np.maximum(self.m_n[a], 1)), 1).astype(np.int64),
                    "s": e - 60_000,
                    "e": e,
                },
            )
            self.last_minute = cols
        self.m_v[:] = 0
        self.m_d[:] = 0.0
        self.m_n[:] = 0
        self.m_o[:] = np.nan
        self.m_h[:] = -np.inf
        self.m_l[:] = np.inf
        return cols

    # ------------------------------------------------------------------ helpers
    def vwap(self) -> np.ndarray:
        with np.errstate(invalid="ignore", divide="ignore"):
            return np.where(self.av > 0, self.dollars / np.maximum(self.av, 1), 0.0)
