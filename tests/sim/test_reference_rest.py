"""The simulator's reference endpoints (float, ticker overview, short interest, news, minute
aggregates) read by the official ``massive`` client, and what they say about the day."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime

import httpx
import pytest
from massive import RESTClient
from massive.exceptions import BadResponse

from stampede.sim.testing import running_simulator
from support.sim import DAY


def _ms(published_utc: str) -> int:
    return int(datetime.fromisoformat(published_utc.replace("Z", "+00:00")).timestamp() * 1000)


async def test_official_client_reads_float_overview_short_interest_and_news() -> None:
    async with running_simulator(date=DAY, start="09:45", symbols=300, seed=5) as sim:
        rest = RESTClient(api_key=sim.api_key, base=sim.rest_url, retries=0)
        floats = await asyncio.to_thread(lambda: list(rest.list_stocks_floats(limit=40)))
        aapl = await asyncio.to_thread(rest.get_ticker_details, "AAPL")
        spy = await asyncio.to_thread(rest.get_ticker_details, "SPY")
        shorts = await asyncio.to_thread(lambda: list(rest.list_short_interest(limit=333)))
        news = await asyncio.to_thread(
            lambda: list(
                rest.list_ticker_news(published_utc_gt="2025-03-14", order="asc", limit=100)
            )
        )
        with pytest.raises(BadResponse, match="NOT_FOUND"):
            await asyncio.to_thread(rest.get_ticker_details, "NOSUCH")
        truth = sim.truth({"limit": "0", "symbols": ",".join(sim.universe.symbols)})

    rows = truth["symbols"]
    with_float = {s for s, r in rows.items() if "float_shares" in r}
    assert len(floats) == len(with_float) > 40  # several pages, followed through next_url
    assert [f.ticker for f in floats] == sorted(with_float)
    for f in floats:
        assert f.free_float == rows[f.ticker]["float_shares"]
        assert f.effective_date == rows[f.ticker]["float_as_of"] <= DAY
        assert 0 < f.free_float_percent <= 100
    assert aapl.ticker == "AAPL" and aapl.type == "CS"
    assert aapl.market_cap == rows["AAPL"]["market_cap"]
    assert aapl.share_class_shares_outstanding == rows["AAPL"]["shares_outstanding"]
    assert aapl.weighted_shares_outstanding > 0
    # an ETF has no float, and its overview no market cap: the truth has no such field either
    assert spy.type == "ETF" and spy.market_cap is None and "market_cap" not in rows["SPY"]
    assert "float_shares" not in rows["SPY"]

    latest: dict[str, object] = {}
    for s in shorts:  # several settlement dates per ticker: the latest is the one that counts
        assert isinstance(s.short_interest, int) and s.settlement_date <= DAY
        if s.ticker not in latest or s.settlement_date > latest[s.ticker].settlement_date:
            latest[s.ticker] = s
    assert len(shorts) > 2 * len(latest)
    assert latest.keys() == {s for s, r in rows.items() if "short_interest" in r}
    for ticker, s in latest.items():
        row = rows[ticker]
        assert (s.short_interest, s.days_to_cover) == (row["short_interest"], row["days_to_cover"])
        assert s.settlement_date == row["short_interest_as_of"]

    assert len(news) == truth["news_published"] > 100  # pages of 100, oldest first
    times = [_ms(a.published_utc) for a in news]
    assert times == sorted(times) and times[-1] <= truth["sim_ms"]
    assert len({a.id for a in news}) == len(news)
    newest: dict[str, object] = {}
    for article in news:
        assert (
            article.title and article.publisher.name and article.article_url.startswith("https://")
        )
        assert {i.ticker for i in article.insights} == set(article.tickers)
        for ticker in article.tickers:
            newest[ticker] = article
    for ticker, article in newest.items():
        if ticker in rows:
            assert rows[ticker]["headline"] == article.title
            assert rows[ticker]["news_ms"] == _ms(article.published_utc)


async def test_news_filters_and_minute_aggregates_follow_next_url() -> None:
    async with running_simulator(date=DAY, start="12:00", symbols=200, seed=3) as sim:
        rest = RESTClient(api_key=sim.api_key, base=sim.rest_url, retries=0)
        newest = await asyncio.to_thread(lambda: list(rest.list_ticker_news(limit=1000)))
        ticker = newest[0].tickers[0]
        mine = await asyncio.to_thread(lambda: list(rest.list_ticker_news(ticker=ticker)))
        paged = await asyncio.to_thread(
            lambda: list(rest.list_aggs("SPY", 1, "minute", "2025-03-12", "2025-03-13", limit=300))
        )
        whole = await asyncio.to_thread(
            lambda: list(
                rest.list_aggs("SPY", 1, "minute", "2025-03-12", "2025-03-13", limit=50000)
            )
        )
    times = [_ms(a.published_utc) for a in newest]
    assert times == sorted(times, reverse=True)  # newest first by default
    assert mine and all(ticker in a.tickers for a in mine)
    assert [a.id for a in mine] == [a.id for a in newest if ticker in a.tickers]
    assert len(paged) > 600 and [b.timestamp for b in paged] == [b.timestamp for b in whole]


async def test_bad_requests_get_massive_errors() -> None:
    async with running_simulator(date=DAY, start="10:00", symbols=50, seed=3) as sim:
        key = {"apiKey": sim.api_key}
        async with httpx.AsyncClient(base_url=sim.rest_url) as http:
            too_many = await http.get("/stocks/vX/float", params={**key, "limit": 5001})
            bad_cursor = await http.get("/v2/reference/news", params={**key, "cursor": "x!"})
            bad_sort = await http.get("/stocks/v1/short-interest", params={**key, "sort": "nope"})
            no_key = await http.get("/stocks/vX/float")
    for answer in (too_many, bad_cursor, bad_sort):
        assert answer.status_code == 400 and answer.json()["status"] == "ERROR", answer.text
    assert no_key.status_code == 401


async def test_armed_faults_spoil_the_next_answers() -> None:
    async with running_simulator(date=DAY, start="10:00", symbols=50, seed=3) as sim:
        sim.rest.faults.arm("float", "500", "truncated", "wrong_type", "429")
        key = {"apiKey": sim.api_key, "limit": 5}
        async with httpx.AsyncClient(base_url=sim.rest_url) as http:
            answers = [await http.get("/stocks/vX/float", params=key) for _ in range(5)]
    assert [a.status_code for a in answers] == [500, 200, 200, 429, 200]
    with pytest.raises(ValueError):
        answers[1].json()
    spoiled, fine = answers[2].json()["results"][0], answers[4].json()["results"][0]
    assert isinstance(spoiled["free_float"], str) and isinstance(fine["free_float"], int)


async def test_the_day_has_low_float_movers_and_news_before_their_moves() -> None:
    async with running_simulator(date=DAY, start="10:00", symbols=2000, seed=7) as sim:
        movers = [g.sym for g in sim.model.gappers] + [r.sym for r in sim.model.runners]
        floats = sim.fundamentals.free_float
        articles = sim.news.articles
    known = floats[floats > 0]
    low = [m for m in movers if 0 < floats[m] < 20e6]
    assert len(low) >= 0.6 * len(movers)  # most movers are low-float names...
    assert (known < 20e6).mean() < 0.45  # ...unlike the market as a whole
    assert known.max() / max(1, float(sorted(known)[len(known) // 2])) > 50  # heavy-tailed
    midnight = sim.model.midnight_ms
    by_ticker: dict[str, list[int]] = {}
    for a in articles:
        for t in a.doc["tickers"]:
            by_ticker.setdefault(t, []).append((a.published_ms - midnight) // 1000)

    def headline_before(sym: int, second: int, within: int) -> bool:
        ticker = sim.universe.symbols[sym]
        return any(second - within <= s <= second for s in by_ticker.get(ticker, []))

    gappers = sim.model.gappers
    assert all(g.news_s < 9 * 3600 + 1800 for g in gappers)  # their news is pre-market
    assert sum(headline_before(g.sym, g.news_s, 30) for g in gappers) >= 0.7 * len(gappers)
    runners = sim.model.runners
    assert sum(headline_before(r.sym, r.start_s, 20) for r in runners) >= 0.3 * len(runners)
    assert 3000 < len(articles) < 8000
    assert datetime.fromtimestamp(articles[0].published_ms / 1000, UTC).date().isoformat() == DAY
