"""Massive's reference endpoints a scanner filters on: float, ticker overview, short interest
and news, with Massive's paths, parameters, envelopes, ``next_url`` pages and errors.

- ``GET /stocks/vX/float``: ``results: [{ticker, free_float, free_float_percent,
  effective_date}]``, limit 100 by default, at most 5,000, sorted by ticker;
- ``GET /v3/reference/tickers/{T}``: ``results: {ticker, name, market_cap,
  share_class_shares_outstanding, weighted_shares_outstanding, ...}``, 404 for a ticker
  without an overview;
- ``GET /stocks/v1/short-interest``: ``results: [{ticker, short_interest, avg_daily_volume,
  days_to_cover, settlement_date}]`` for the last few settlement dates, limit 10 by default, at
  most 50,000, sorted by ticker;
- ``GET /v2/reference/news``: articles published by now on the simulated clock, newest first by
  default (``order=asc`` for oldest first), limit 10 by default, at most 1,000.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, date, datetime
from typing import Any

from stampede.sim.clock import SimClock
from stampede.sim.fundamentals import ETFS, EXCHANGE_MIC, Fundamentals, days_to_cover
from stampede.sim.listing import Field, Listing
from stampede.sim.news import TIME_FORMAT, NewsFeed, company_name
from stampede.sim.replies import Reply, Route, json_reply, not_found, request_id


def _text(value: str) -> str:
    return value


def _utc(value: str) -> str:
    """A ``published_utc`` bound (a date, an RFC 3339 time or Unix ms) in the served format,
    so comparing strings compares times."""
    if value.isdigit():
        moment = datetime.fromtimestamp(int(value) / 1000, UTC)
    elif len(value) == 10:
        moment = datetime.combine(date.fromisoformat(value), datetime.min.time(), UTC)
    else:
        moment = datetime.fromisoformat(value.replace("Z", "+00:00")).astimezone(UTC)
    return moment.strftime(TIME_FORMAT)


def _column(name: str) -> Callable[[dict[str, Any]], Any]:
    return lambda record: record.get(name)


FLOATS = Listing(
    fields={
        "ticker": Field(_text, _column("ticker")),
        "free_float_percent": Field(float, _column("free_float_percent")),
        "effective_date": Field(_text, _column("effective_date")),
    },
    sort="ticker",
    order="asc",
    default_limit=100,
    max_limit=5000,
)
SHORT_INTEREST = Listing(
    fields={
        "ticker": Field(_text, _column("ticker")),
        "days_to_cover": Field(float, _column("days_to_cover")),
        "settlement_date": Field(_text, _column("settlement_date")),
        "avg_daily_volume": Field(int, _column("avg_daily_volume")),
    },
    sort="ticker",
    order="asc",
    default_limit=10,
    max_limit=50_000,
)
NEWS = Listing(
    fields={
        "ticker": Field(_text, _column("tickers")),
        "published_utc": Field(_utc, _column("published_utc")),
    },
    sort="published_utc",
    order="desc",
    default_limit=10,
    max_limit=1000,
)


class ReferenceApi:
    def __init__(
        self,
        fundamentals: Fundamentals,
        news: NewsFeed,
        clock: SimClock,
        base_url: Callable[[], str],
    ) -> None:
        self.f, self.news, self.clock, self.base_url = fundamentals, news, clock, base_url
        u = fundamentals.universe
        self.index = u.index()
        self.floats = [
            {
                "ticker": u.symbols[i],
                "free_float": int(fundamentals.free_float[i]),
                "free_float_percent": float(fundamentals.free_float_pct[i]),
                "effective_date": fundamentals.float_date[i],
            }
            for i in sorted(range(u.size), key=lambda i: u.symbols[i])
            if fundamentals.free_float[i]
        ]
        self.shorts = [
            {
                "ticker": u.symbols[i],
                "short_interest": int(fundamentals.short_interest[i, k]),
                "avg_daily_volume": int(fundamentals.avg_daily_volume[i, k]),
                "days_to_cover": days_to_cover(
                    int(fundamentals.short_interest[i, k]),
                    int(fundamentals.avg_daily_volume[i, k]),
                ),
                "settlement_date": settled,
            }
            for i in sorted(range(u.size), key=lambda i: u.symbols[i])
            for k, settled in enumerate(fundamentals.settlements)
            if fundamentals.short_interest[i, k]
        ]

    def routes(self) -> list[Route]:
        return [
            (r"/stocks/vX/float", "float", self.float_list, True),
            (r"/v3/reference/tickers/([^/]+)", "ticker_overview", self.overview, True),
            (r"/stocks/v1/short-interest", "short_interest", self.short_interest, True),
            (r"/v2/reference/news", "news", self.news_list, True),
        ]

    def _page(
        self, listing: Listing, records: list[dict[str, Any]], query: dict[str, str], path: str
    ) -> Reply:
        doc = listing.page(records, query, self.base_url() + path)
        return json_reply(200, {**doc, "request_id": request_id()})

    def float_list(self, query: dict[str, str]) -> Reply:
        return self._page(FLOATS, self.floats, query, "/stocks/vX/float")

    def short_interest(self, query: dict[str, str]) -> Reply:
        return self._page(SHORT_INTEREST, self.shorts, query, "/stocks/v1/short-interest")

    def news_list(self, query: dict[str, str]) -> Reply:
        published = [a.doc for a in self.news.published(self.clock.now_ms())]
        return self._page(NEWS, published, query, "/v2/reference/news")

    def overview(self, query: dict[str, str], ticker: str) -> Reply:
        i = self.index.get(ticker)
        f = self.f
        if i is None or not f.has_overview[i]:
            return not_found("Ticker not found.")
        u = f.universe
        etf = ticker in ETFS
        results: dict[str, Any] = {
            "ticker": ticker,
            "name": company_name(ticker) if not etf else f"{ticker} ETF Trust",
            "market": "stocks",
            "locale": "us",
            "primary_exchange": EXCHANGE_MIC[int(u.tape[i])],
            "type": "ETF" if etf else "CS",
            "active": True,
            "currency_name": "usd",
            "cik": f"{1_000_000 + i:010d}",
            "composite_figi": f"BBG{i:09d}",
            "share_class_figi": f"BBG{i + 500_000:09d}",
            "round_lot": 100,
            "ticker_root": ticker,
            "weighted_shares_outstanding": int(f.shares_weighted[i]),
        }
        if f.shares_class[i]:
            results["share_class_shares_outstanding"] = int(f.shares_class[i])
        cap = f.market_cap(i)
        if cap is not None:
            results["market_cap"] = cap
        return json_reply(200, {"request_id": request_id(), "results": results, "status": "OK"})
