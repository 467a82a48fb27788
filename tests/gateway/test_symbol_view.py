"""The symbol view end to end: simulator -> bridge -> dispatch -> bars function -> Redis ->
gateway REST -> the chart in the real Chromium, live while the panel is open."""

from __future__ import annotations

import asyncio
from datetime import datetime

import httpx
import pytest
import redis.asyncio as aioredis

from stampede import keys
from stampede.functions.bars.scoring import halt_writes
from stampede.market import LULD_HALT, LULD_RESUME, Luld
from support.browser import TICKERS, DemoMarket, chromium, open_page
from support.gateway import running_gateway
from support.pipeline import Pipeline

pytestmark = pytest.mark.browser

START = "11:30:00"  # a calm midday market: the chart, not the burst, is under test
SPEED = 8.0  # one simulated minute every 7.5 s


def sim_clock(p: Pipeline) -> tuple[int, datetime]:
    clock = httpx.get(f"{p.sim_url}/_sim/clock", timeout=10).json()
    return clock["sim_ms"], datetime.fromisoformat(clock["et"])


def minutes_done(p: Pipeline, start_ms: int) -> int:
    """Whole simulated minutes since the start, by the simulator's clock."""
    sim_ms, _ = sim_clock(p)
    return (sim_ms - start_ms) // 60_000


async def chart_follows_served_bars(page, p: Pipeline, sym: str, start_ms: int, past: int) -> int:
    """The number of candles once the open panel draws exactly the bars the gateway serves, and
    more than `past` of them. Compares the chart with what was served, not with the clock, so a
    busy machine only makes it wait (a bar landing between the two reads means: look again)."""
    while True:
        served = await served_bars(page, p, sym)
        if len(served) <= past:
            await asyncio.sleep(1)
            continue
        await page.wait_for_function(
            "(n) => Number(document.getElementById('symbol').dataset.candles) >= n",
            arg=len(served),
            timeout=60_000,
        )
        shown = int(await page.locator("#symbol").get_attribute("data-candles"))
        again = await served_bars(page, p, sym)
        if shown != len(again):
            continue
        first = again[0]["t"]  # the start's minute, unless its bars were shed at start-up
        assert first >= start_ms and [bar["t"] for bar in again] == [
            first + 60_000 * minute for minute in range(len(again))
        ], "one candle per simulated minute, none missing"
        assert len(again) <= await asyncio.to_thread(minutes_done, p, start_ms)  # none ahead
        return shown


async def served_bars(page, p: Pipeline, sym: str) -> list[dict]:
    answer = await page.request.get(f"{p.gateway_url}/api/symbols/{sym}/bars")
    return (await answer.json())["bars"]


@pytest.mark.slow
async def test_the_chart_has_a_candle_per_simulated_minute_and_follows_new_bars(
    tmp_path_factory, artifacts_dir
):
    p = Pipeline(tmp_path_factory.mktemp("symbol-view"), start=START, seed=7, speed=SPEED)
    try:
        await asyncio.to_thread(p.start)
        sim_ms, et = await asyncio.to_thread(sim_clock, p)
        opened = et.replace(hour=11, minute=30, second=0, microsecond=0)
        start_ms = sim_ms - int((et - opened).total_seconds() * 1000)
        async with chromium() as browser:
            page, errors = await open_page(browser, p.gateway_url + "/")
            rows = page.locator('.board[data-board="volume"] tbody tr')
            await rows.first.wait_for(timeout=60_000)
            while await asyncio.to_thread(minutes_done, p, start_ms) < 3:
                await asyncio.sleep(1)
            sym = await rows.first.get_attribute("data-sym")  # the busiest: a bar every minute
            await page.locator(f'.board[data-board="volume"] tr[data-sym="{sym}"] td.sym').click()
            panel = page.locator("#symbol")
            await panel.wait_for()
            drawn = await chart_follows_served_bars(page, p, sym, start_ms, past=1)
            # a minute later, without reopening: the open panel took the new bar
            await chart_follows_served_bars(page, p, sym, start_ms, past=drawn)
            view = await page.evaluate(
                """() => { const v = window.stampede.symbolView;
                  return { vwap: v.vwap.data().length, volume: v.volume.data().length,
                           lines: Object.keys(v.lines), candles: v.candles.data().length }; }"""
            )
            assert view["vwap"] == view["volume"] == view["candles"]
            assert "prev_close" in view["lines"]
            stats = await panel.locator(".stats dd").all_inner_texts()
            assert stats and stats[0] != "—"  # the row's last price
            await page.wait_for_timeout(500)
            await page.screenshot(path=str(artifacts_dir / "symbol-panel.png"))
            # 5-minute candles with EMA 9/20 and the OHLC readout (issue 23)
            await panel.locator('.frames button[data-frame="5"]').click()
            await page.wait_for_selector('#symbol[data-frame="5"]')
            five = await page.evaluate(
                """() => { const v = window.stampede.symbolView;
                  return { candles: v.candles.data().length, minutes: v.bars.length,
                           starts: v.shown.map((b) => b.t),
                           emas: v.emas.map(([n, s]) => [n, s.data().length]) }; }"""
            )
            assert five["candles"] == len({t // 300_000 for t in five["starts"]})
            assert five["candles"] < five["minutes"] or five["minutes"] <= 1
            assert all(t % 300_000 == 0 for t in five["starts"])
            assert five["emas"] == [[9, five["candles"]], [20, five["candles"]]]
            assert (await panel.locator(".ohlc").inner_text()).startswith("O ")
            await page.wait_for_timeout(300)
            await page.screenshot(path=str(artifacts_dir / "symbol-5m-ema.png"))
            assert not errors, errors
    finally:
        await asyncio.to_thread(p.stop)


HOSTILE = '<img src=x onerror="window.__pwned=1"><b>Buyout</b> & more'


async def test_the_symbol_panel_shows_reference_luld_and_halts_and_a_hostile_headline_as_text(
    redis_url, artifacts_dir
):
    redis = aioredis.from_url(redis_url)
    market = DemoMarket(redis)
    market.rows["SOUN"]["volume"] = 90_000_000  # top of the volume board
    market.rows["SOUN"]["extra"] = {
        "headline": HOSTILE,
        "news_publisher": "<script>alert(1)</script>",
        "news_url": "javascript:window.__pwned=2",
        "news_ms": market.t - 30_000,
        "float_shares": 18_500_000,
        "short_pct_float": 23.5,
        "premarket_high": 200.5,
        "luld_upper": 209.55,
        "luld_lower": 171.45,
    }
    await market.write(TICKERS)
    halted_at = market.t - 600_000
    for w in halt_writes(
        [
            Luld(T="SOUN", h=209.55, l=171.45, t=halted_at, i=[LULD_HALT], q=1),
            Luld(T="SOUN", h=209.55, l=171.45, t=halted_at + 300_000, i=[LULD_RESUME], q=2),
        ]
    ):
        await redis.hset(keys.halt_history(w.day, w.sym), w.field, w.value)
    async with running_gateway(redis_url) as gw, chromium() as browser:
        page, errors = await open_page(browser, gw.url + "/")
        await page.locator('.board[data-board="volume"] tr[data-sym="SOUN"] td.sym').click()
        news = page.locator("#symbol .news li")
        await news.first.locator(".headline").wait_for()
        assert await news.first.locator(".headline").text_content() == HOSTILE
        assert await page.locator("#symbol .news img, #symbol .news b, #symbol script").count() == 0
        assert await news.first.locator("a").count() == 0  # a javascript: URL is not a link
        assert await page.locator('#symbol dd[data-field="float_shares"]').inner_text() == "18.50M"
        assert (
            await page.locator('#symbol dd[data-field="short_pct_float"]').inner_text() == "23.5%"
        )
        assert await page.locator('#symbol dd[data-field="luld_upper"]').inner_text() == "209.55"
        halts = await page.locator("#symbol .halts li").all_inner_texts()
        assert [h.split()[-1] for h in halts] == ["HALTED", "resumed"]
        lines = await page.evaluate("Object.keys(window.stampede.symbolView.lines)")
        assert sorted(lines) == ["premarket_high", "prev_close"]
        await page.wait_for_timeout(300)
        assert await page.evaluate("window.__pwned") is None
        await page.screenshot(path=str(artifacts_dir / "symbol-hostile-headline.png"))
        assert not errors, errors
    await redis.aclose()
