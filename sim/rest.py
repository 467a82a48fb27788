"""Massive's REST endpoints a scanner needs, with Massive's paths, envelopes and error bodies.

History (grouped daily, previous close, custom-range bars of past sessions) comes from the
seeded :class:`~stampede.sim.universe.History`, the same numbers the live day starts from;
snapshots and gainers/losers come from the live model; market status from the simulated clock.
Simulator-only paths live under ``/_sim/`` (ground truth, clock), outside Massive's namespace.
"""

from __future__ import annotations

import re
import time as _time
from collections.abc import Callable, Sequence
from datetime import UTC, date, datetime, time, timedelta
from typing import Any

import numpy as np

from stampede import markettime
from stampede.sim.clock import SimClock, seconds_of_day
from stampede.sim.columns import COND_LISTS
from stampede.sim.model import MarketModel
from stampede.sim.replies import Reply, Route
from stampede.sim.replies import json_reply as _json
from stampede.sim.replies import request_id as _request_id
from stampede.sim.rest_faults import RestFaults
from stampede.sim.universe import History, MinuteBars, Universe, minute_bars


class TokenBucket:
    def __init__(self, rate: float, clock: Callable[[], float] = _time.monotonic) -> None:
        self.rate, self.capacity, self.clock = rate, max(1.0, rate), clock
        self.tokens, self.at = self.capacity, clock()

    def take(self) -> bool:
        now = self.clock()
        self.tokens = min(self.capacity, self.tokens + (now - self.at) * self.rate)
        self.at = now
        if self.tokens >= 1.0:
            self.tokens -= 1.0
            return True
        return False


class RestApi:
    def __init__(
        self,
        universe: Universe,
        history: History,
        model: MarketModel,
        clock: SimClock,
        api_key: str,
        seed: int,
        rate_limit: float,
        truth: Callable[[dict[str, str]], dict[str, Any]],
        ready: Callable[[], bool],
        metrics_text: Callable[[], bytes],
        extra_routes: Sequence[Route] = (),
    ) -> None:
        self.u, self.history, self.model, self.clock = universe, history, model, clock
        self.faults = RestFaults()
        self.host = ""  # Host header of the request being answered (for next_url)
        self.api_key, self.seed = api_key, seed
        self.index = universe.index()
        self.bucket = TokenBucket(rate_limit)
        self.truth, self.ready, self.metrics_text = truth, ready, metrics_text
        table: tuple[Route, ...] = (
            (
                r"/v2/aggs/grouped/locale/us/market/stocks/(\d{4}-\d{2}-\d{2})",
                "grouped",
                self.grouped,
                True,
            ),
            (r"/v2/aggs/ticker/([^/]+)/prev", "prev", self.prev, True),
            (
                r"/v2/aggs/ticker/([^/]+)/range/(\d+)/([a-z]+)/([^/]+)/([^/]+)",
                "range",
                self.range,
                True,
            ),
            (
                r"/v2/snapshot/locale/us/markets/stocks/tickers",
                "snapshot",
                self.snapshot_all,
                True,
            ),
            (
                r"/v2/snapshot/locale/us/markets/stocks/tickers/([^/]+)",
                "snapshot_ticker",
                self.snapshot_one,
                True,
            ),
            (
                r"/v2/snapshot/locale/us/markets/stocks/(gainers|losers)",
                "movers",
                self.movers,
                True,
            ),
            (r"/v1/marketstatus/now", "status_now", self.status_now, True),
            (r"/v1/marketstatus/upcoming", "status_upcoming", self.status_upcoming, True),
            *extra_routes,
            (r"/_sim/truth", "sim_truth", self.sim_truth, False),
            (r"/_sim/clock", "sim_clock", self.sim_clock, False),
            (r"/_sim/clock/start", "sim_clock_start", self.sim_clock_start, False),
            (r"/healthz", "healthz", lambda q: _json(200, {"status": "ok"}), False),
            (r"/readyz", "readyz", self.readyz, False),
            (
                r"/metrics",
                "metrics",
                lambda q: Reply(200, self.metrics_text(), "text/plain; version=0.0.4"),
                False,
            ),
        )
        self.routes: list[tuple[re.Pattern[str], str, Callable[..., Reply], bool]] = [
            (re.compile(p), name, fn, auth) for p, name, fn, auth in table
        ]

    # ------------------------------------------------------------------ dispatch
    def handle(self, path: str, query: dict[str, str], headers: dict[str, str]) -> Reply:
        self.host = headers.get("host", "")
        for pattern, name, fn, needs_key in self.routes:
            m = pattern.fullmatch(path)
            if not m:
                continue
            if needs_key:
                denied = self._check_key(query, headers)
                if denied is not None:
                    denied.route = name
                    return denied
            try:
                reply = fn(query, *m.groups())
            except ValueError as exc:
                reply = _json(
                    400, {"status": "ERROR", "request_id": _request_id(), "error": str(exc)}
                )
            reply.route = name
            return self.faults.apply(name, reply)
        return _json(
            404,
            {"status": "NOT_FOUND", "request_id": _request_id(), "message": "Route not found."},
            "unknown",
        )

    def _check_key(self, query: dict[str, str], headers: dict[str, str]) -> Reply | None:
        key = query.get("apiKey")
        auth = headers.get("authorization", "")
        if key is None and auth.lower().startswith("bearer "):
            key = auth[7:].strip()
        if not key:
            return _json(
                401,
                {
                    "status": "ERROR",
                    "request_id": _request_id(),
                    "error": "API Key was not provided",
                },
            )
        if key != self.api_key:
            return _json(
                401, {"status": "ERROR", "request_id": _request_id(), "error": "Unknown API Key"}
            )
        if not self.bucket.take():
            return _json(
                429,
                {
                    "status": "ERROR",
                    "request_id": _request_id(),
                    "error": (
                        "You've exceeded the maximum requests per minute, please wait or upgrade "
                        "your subscription to continue."
                    ),
                },
            )
        return None

    # ------------------------------------------------------------------ aggregates
    def _daily_row(self, i: int, d: int, t: int) -> dict[str, Any]:
        h = self.history
        return {
            "T": self.u.symbols[i],
            "v": int(h.v[i, d]),
            "vw": float(h.vw[i, d]),
            "o": float(h.o[i, d]),
            "c": float(h.c[i, d]),
            "h": float(h.h[i, d]),
            "l": float(h.l[i, d]),
            "t": t,
            "n": int(h.n[i, d]),
        }

    def _close_ms(self, day: date) -> int:
        return int(markettime.regular_close(day).timestamp() * 1000)

    def grouped(self, query: dict[str, str], day: str) -> Reply:
        d = self.history.session_index(date.fromisoformat(day))
        results: list[dict[str, Any]] = []
        if d is not None:
            t = self._close_ms(self.history.sessions[d])
            results = [self._daily_row(i, d, t) for i in range(self.u.size)]
        return _json(200, _aggregates(results))

    def prev(self, query: dict[str, str], ticker: str) -> Reply:
        i = self.index.get(ticker)
        results: list[dict[str, Any]] = []
        if i is not None:
            d = len(self.history.sessions) - 1
            results = [self._daily_row(i, d, self._close_ms(self.history.sessions[d]))]
        return _json(200, _aggregates(results, ticker=ticker))

    def range(
        self,
        query: dict[str, str],
        ticker: str,
        multiplier: str,
        timespan: str,
        start: str,
        end: str,
    ) -> Reply:
        mult = int(multiplier)
        if mult < 1 or timespan not in ("minute", "hour", "day"):
            raise ValueError(
                f"Unsupported timespan {multiplier}/{timespan} (simulator: minute, hour, day)"
            )
        lo, hi = _bound(start, False), _bound(end, True)
        limit = min(int(query.get("limit", 5000)), 50_000)
        i = self.index.get(ticker)
        results: list[dict[str, Any]] = []
        if i is None:
            return _json(200, _aggregates(results, ticker=ticker))
        for d, day in enumerate(self.history.sessions):
            midnight = markettime.et_ms(day, time(0))
            if midnight + 86_400_000 <= lo or midnight > hi:
                continue
            if timespan == "day":
                results.append(
                    {k: v for k, v in self._daily_row(i, d, midnight).items() if k != "T"}
                )
                continue
            bars = minute_bars(self.u, self.history, i, d, self.seed)
            results.extend(_bucket(bars, mult * (60 if timespan == "hour" else 1), midnight))
        if timespan == "day" and mult > 1:
            results = _merge(results, mult)
        results = [r for r in results if lo <= r["t"] <= hi]
        descending = query.get("sort") == "desc"
        if descending:
            results.reverse()
        next_url = None
        if len(results) > limit:  # Massive's next page: the same range from past the last bar
            last = results[limit - 1]["t"]
            rest = f"{lo}/{last - 1}" if descending else f"{last + 1}/{hi}"
            params = "&".join(f"{k}={v}" for k, v in query.items() if k not in ("apiKey",))
            next_url = (
                f"http://{self.host}/v2/aggs/ticker/{ticker}/range/{multiplier}/{timespan}/{rest}"
                + (f"?{params}" if params else "")
            )
            results = results[:limit]
        doc = _aggregates(results, ticker=ticker)
        if results:
            doc["count"] = len(results)
        if next_url is not None:
            doc["next_url"] = next_url
        return _json(200, doc)

    # ------------------------------------------------------------------ snapshots
    def _ticker_snapshot(self, i: int) -> dict[str, Any]:
        m, h = self.model, self.history
        traded = m.av[i] > 0
        last = float(m.last[i]) if traded and not np.isnan(m.last[i]) else 0.0
        prev = float(h.c[i, -1])
        lt, lq = m.last_trade, m.last_quote
        minute = m.last_minute
        mrow = {}
        if minute is not None:
            j = np.searchsorted(minute.sym, i)
            if j < len(minute) and minute.sym[j] == i:
                c = minute.cols
                mrow = {
                    "av": int(c["av"][j]),
                    "t": int(c["s"][j]),
                    "n": int(np.round(c["v"][j] / max(c["z"][j], 1))),
                    "o": float(c["o"][j]),
                    "h": float(c["h"][j]),
                    "l": float(c["l"][j]),
                    "c": float(c["c"][j]),
                    "v": int(c["v"][j]),
                    "vw": float(c["vw"][j]),
                }
        change = last - prev if traded else 0.0
        return {
            "ticker": self.u.symbols[i],
            "todaysChange": round(change, 4),
            "todaysChangePerc": (change / prev * 100) if traded and prev else 0.0,
            "updated": int(lt["t"][i]) * 1_000_000,
            "day": {
                "o": float(m.op[i]),
                "h": float(m.day_high[i]) if traded else 0.0,
                "l": float(m.day_low[i]) if traded else 0.0,
                "c": last,
                "v": int(m.av[i]),
                "vw": round(float(m.dollars[i] / m.av[i]), 4) if traded else 0.0,
            },
            "min": mrow,
            "prevDay": {
                "o": float(h.o[i, -1]),
                "h": float(h.h[i, -1]),
                "l": float(h.l[i, -1]),
                "c": prev,
                "v": int(h.v[i, -1]),
                "vw": float(h.vw[i, -1]),
            },
            "lastTrade": {
                "c": COND_LISTS[int(lt["c"][i])],
                "i": str(int(lt["i"][i])),
                "p": float(lt["p"][i]),
                "s": int(lt["s"][i]),
                "t": int(lt["t"][i]) * 1_000_000,
                "x": int(lt["x"][i]),
            }
            if traded
            else {},
            "lastQuote": {
                "P": float(lq["P"][i]),
                "S": int(lq["S"][i]),
                "p": float(lq["p"][i]),
                "s": int(lq["s"][i]),
                "t": int(lq["t"][i]) * 1_000_000,
            }
            if traded
            else {},
        }

    def snapshot_all(self, query: dict[str, str]) -> Reply:
        wanted = query.get("tickers")
        idx = (
            [self.index[t] for t in wanted.split(",") if t in self.index]
            if wanted
            else range(self.u.size)
        )
        tickers = [self._ticker_snapshot(i) for i in idx]
        return _json(
            200,
            {
                "status": "OK",
                "count": len(tickers),
                "tickers": tickers,
                "request_id": _request_id(),
            },
        )

    def snapshot_one(self, query: dict[str, str], ticker: str) -> Reply:
        i = self.index.get(ticker)
        if i is None:
            return _json(
                404,
                {
                    "status": "NOT_FOUND",
                    "request_id": _request_id(),
                    "message": "Ticker not found.",
                },
            )
        return _json(
            200, {"status": "OK", "ticker": self._ticker_snapshot(i), "request_id": _request_id()}
        )

    def movers(self, query: dict[str, str], direction: str) -> Reply:
        m = self.model
        prev = self.history.c[:, -1]
        with np.errstate(invalid="ignore"):
            change = (m.last - prev) / prev * 100
        ok = np.nonzero((m.av >= 10_000) & np.isfinite(change))[0]
        order = ok[
            np.argsort(-change[ok] if direction == "gainers" else change[ok], kind="stable")
        ][:20]
        return _json(
            200,
            {
                "status": "OK",
                "tickers": [self._ticker_snapshot(int(i)) for i in order],
                "request_id": _request_id(),
            },
        )

    # ------------------------------------------------------------------ market status
    def status_now(self, query: dict[str, str]) -> Reply:
        now = self.clock.now_ms()
        dt = markettime.et_datetime(now)
        open_day = markettime.is_trading_day(dt.date())
        s = seconds_of_day(now)
        close = markettime.regular_close(dt.date()) if open_day else None
        close_s = close.hour * 3600 + close.minute * 60 if close else 0
        early = open_day and 4 * 3600 <= s < 9 * 3600 + 1800
        regular = open_day and 9 * 3600 + 1800 <= s < close_s
        after = open_day and close_s <= s < 20 * 3600
        market = "open" if regular else "extended-hours" if (early or after) else "closed"
        return _json(
            200,
            {
                "afterHours": after,
                "earlyHours": early,
                "market": market,
                "serverTime": dt.replace(microsecond=0).isoformat(),
                "exchanges": {
                    "nasdaq": market,
                    "nyse": market,
                    "otc": market if market != "extended-hours" else "closed",
                },
                "currencies": {"crypto": "open", "fx": "open" if dt.weekday() < 5 else "closed"},
                "indicesGroups": {
                    g: market if market != "extended-hours" else "closed"
                    for g in (
                        "s_and_p",
                        "societe_generale",
                        "msci",
                        "ftse_russell",
                        "mstar",
                        "mstarc",
                        "cccy",
                        "cgi",
                        "nasdaq",
                        "dow_jones",
                    )
                },
            },
        )

    def status_upcoming(self, query: dict[str, str]) -> Reply:
        today = markettime.et_datetime(self.clock.now_ms()).date()
        return _json(200, upcoming(today))

    # ------------------------------------------------------------------ simulator-only
    def sim_truth(self, query: dict[str, str]) -> Reply:
        return _json(200, self.truth(query))

    def sim_clock(self, query: dict[str, str]) -> Reply:
        return _json(200, self.clock.as_json())

    def sim_clock_start(self, query: dict[str, str]) -> Reply:
        """Start a held clock (``sim_hold_clock``) from its start time; a running one goes on."""
        if self.clock.held:
            self.clock.restart(self.clock.start_ms)
        return _json(200, self.clock.as_json())

    def readyz(self, query: dict[str, str]) -> Reply:
        ok = self.ready()
        return _json(
            200 if ok else 503,
            {
                "status": "ready" if ok else "not ready",
                "detail": "feed running" if ok else "starting",
            },
        )


def _aggregates(results: list[dict[str, Any]], **head: Any) -> dict[str, Any]:
    """An aggregates reply as Massive shapes it: counts of ``results``, which is left out when
    there are none (an unknown ticker or day answers 200 with zero counts, not 404)."""
    doc: dict[str, Any] = {
        **head,
        "queryCount": len(results),
        "resultsCount": len(results),
        "adjusted": True,
        "status": "OK",
        "request_id": _request_id(),
    }
    if results:
        doc["results"] = results
    return doc


def _bound(value: str, end: bool) -> int:
    """A range bound: ``YYYY-MM-DD`` (the whole ET day) or Unix ms."""
    if value.isdigit():
        return int(value)
    day = date.fromisoformat(value)
    ms = markettime.et_ms(day, time(0))
    return ms + 86_400_000 - 1 if end else ms


def _bucket(bars: MinuteBars, minutes: int, midnight: int) -> list[dict[str, Any]]:
    if minutes == 1:
        return [
            {
                "v": int(v),
                "vw": float(vw),
                "o": float(o),
                "c": float(c),
                "h": float(h),
                "l": float(lo),
                "t": int(t),
                "n": int(n),
            }
            for t, o, h, lo, c, v, vw, n in zip(
                bars.t, bars.o, bars.h, bars.l, bars.c, bars.v, bars.vw, bars.n
            )
        ]
    key = (bars.t - midnight) // (minutes * 60_000)
    out = []
    for k in np.unique(key):
        sel = key == k
        v = int(bars.v[sel].sum())
        out.append(
            {
                "v": v,
                "vw": round(float((bars.vw[sel] * bars.v[sel]).sum() / max(v, 1)), 4),
                "o": float(bars.o[sel][0]),
                "c": float(bars.c[sel][-1]),
                "h": float(bars.h[sel].max()),
                "l": float(bars.l[sel].min()),
                "t": int(midnight + k * minutes * 60_000),
                "n": int(bars.n[sel].sum()),
            }
        )
    return out


def _merge(days: list[dict[str, Any]], mult: int) -> list[dict[str, Any]]:
    out = []
    for j in range(0, len(days), mult):
        chunk = days[j : j + mult]
        v = sum(d["v"] for d in chunk)
        out.append(
            {
                "v": v,
                "vw": round(sum(d["vw"] * d["v"] for d in chunk) / max(v, 1), 4),
                "o": chunk[0]["o"],
                "c": chunk[-1]["c"],
                "h": max(d["h"] for d in chunk),
                "l": min(d["l"] for d in chunk),
                "t": chunk[0]["t"],
                "n": sum(d["n"] for d in chunk),
            }
        )
    return out


_EARLY_CLOSE_NAMES = {7: "Independence Day", 11: "Thanksgiving", 12: "Christmas"}


def upcoming(today: date, days: int = 366) -> list[dict[str, Any]]:
    """Holidays and early closes ahead, from the XNYS calendar, as Massive lists them."""
    cal = markettime._xnys()
    end = today + timedelta(days=days)
    out: list[dict[str, Any]] = []
    names: dict[date, str] = {}
    for ts, name in cal.regular_holidays.holidays(
        today.isoformat(), end.isoformat(), return_name=True
    ).items():
        names[ts.date()] = str(name)
    d = today
    last_session = cal.last_session.date()
    while d <= min(end, last_session):
        if d.weekday() < 5 and not markettime.is_trading_day(d):
            for exchange in ("NYSE", "NASDAQ"):
                out.append(
                    {
                        "date": d.isoformat(),
                        "exchange": exchange,
                        "name": names.get(d, "Market Holiday"),
                        "status": "closed",
                    }
                )
        d += timedelta(days=1)
    for ts in cal.early_closes:
        day = ts.date()
        if today <= day <= end:
            close = markettime.regular_close(day).astimezone(UTC)
            opening = datetime.combine(day, time(9, 30), markettime.ET).astimezone(UTC)
            for exchange in ("NYSE", "NASDAQ"):
                out.append(
                    {
                        "date": day.isoformat(),
                        "exchange": exchange,
                        "name": _EARLY_CLOSE_NAMES.get(day.month, "Early Close"),
                        "status": "early-close",
                        "open": opening.strftime("%Y-%m-%dT%H:%M:%S.000Z"),
                        "close": close.strftime("%Y-%m-%dT%H:%M:%S.000Z"),
                    }
                )
    out.sort(key=lambda e: (e["date"], e["exchange"]))
    return out
