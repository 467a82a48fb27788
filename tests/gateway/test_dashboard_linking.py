"""A ticker search box and a linked symbol (issue 23), in the real Chromium: a search or a click
on a row opens the symbol view and highlights that symbol's row on every board; closing the
view ends the link; a search that is no ticker opens nothing."""

from __future__ import annotations

import pytest

from support.browser import chromium, open_page
from support.gateway import running_gateway

pytestmark = pytest.mark.browser

HIGHLIGHTED = """sym => [...document.querySelectorAll(`.board tr[data-sym="${sym}"]`)]
  .map(tr => getComputedStyle(tr).boxShadow !== "none")"""


ON_TWO_BOARDS = """() => {
  const volume = [...document.querySelectorAll('.board[data-board="volume"] tbody tr')];
  return volume.map(tr => tr.dataset.sym).find(sym =>
    document.querySelectorAll(`.board tr[data-sym="${sym}"]`).length >= 2) || null;
}"""


async def linked_rows(page, sym: str) -> list[bool]:
    return await page.evaluate(HIGHLIGHTED, sym)


async def test_search_and_clicks_link_a_symbol_across_the_boards(redis_url, demo_market):
    market = demo_market
    async with running_gateway(redis_url) as gw, chromium() as browser:
        page, errors = await open_page(
            browser, "about:blank", viewport={"width": 1440, "height": 900}
        )
        await page.goto(gw.url + "/")
        await page.wait_for_selector('.board[data-board="volume"] tbody tr')
        await page.wait_for_selector('.board[data-board="gainers"] tbody tr')
        sym = await page.evaluate(ON_TWO_BOARDS)  # a symbol on the volume board and another
        assert sym and not any(await linked_rows(page, sym))

        await page.fill("#search-sym", sym.lower())
        await page.press("#search-sym", "Enter")
        await page.wait_for_selector(f'#symbol[data-sym="{sym}"]:not([hidden])')
        on_boards = await linked_rows(page, sym)
        assert len(on_boards) >= 2 and all(on_boards)  # every board showing it
        await market.move(12)  # rows are re-rendered by diffs: the highlight stays
        await page.wait_for_timeout(600)
        assert all(await linked_rows(page, sym))

        await page.press("body", "Escape")  # closing the view ends the link
        await page.wait_for_selector("#symbol", state="hidden")
        assert not any(await linked_rows(page, sym))

        # a click on another symbol's row links that one
        rows = page.locator('.board[data-board="volume"] tbody tr')
        row = rows.nth(0) if await rows.nth(0).get_attribute("data-sym") != sym else rows.nth(1)
        other = await row.get_attribute("data-sym")
        await row.click()
        await page.wait_for_selector(f'#symbol[data-sym="{other}"]:not([hidden])')
        assert all(await linked_rows(page, other)) and not any(await linked_rows(page, sym))
        await page.press("body", "Escape")

        await page.fill("#search-sym", "$$$")  # not a ticker: nothing opens
        await page.press("#search-sym", "Enter")
        await page.wait_for_timeout(300)
        assert await page.locator("#symbol").is_hidden()
        assert not await page.evaluate("() => document.querySelector('#search-sym').validity.valid")
        assert not errors, errors


async def test_the_alert_log_stays_in_view_and_a_new_scan_is_scrolled_to(redis_url, demo_market):
    """Issue 23, defect 8: at 1440x900 the alert log is sticky under the top bar while the
    boards scroll, and a scan made below the fold is brought into view."""
    async with running_gateway(redis_url) as gw, chromium() as browser:
        page, errors = await open_page(
            browser, "about:blank", viewport={"width": 1440, "height": 900}
        )
        await page.goto(gw.url + "/")
        await page.wait_for_selector('.board[data-board="gainers"] tbody tr')
        await page.click("#toggle-log")
        await page.mouse.wheel(0, 2000)  # the boards scroll
        await page.wait_for_timeout(300)
        log = await page.locator("#alert-log").bounding_box()
        bar = await page.locator(".topbar").bounding_box()
        assert log and bar and abs(log["y"] - (bar["y"] + bar["height"])) < 2, (log, bar)
        await page.mouse.wheel(0, -4000)
        await page.click("#new-scan")
        await page.fill("#ed-name", "Below the fold")
        await page.select_option("#ed-board", "volume")
        await page.click("#ed-save")
        panel = page.locator('.board:has(h2:text-is("Below the fold"))')
        await panel.locator("tbody tr").first.wait_for()
        await page.wait_for_timeout(300)
        box = await panel.bounding_box()
        assert box and 0 <= box["y"] < 900, box  # in the viewport
        assert not errors, errors


async def test_five_minute_candles_and_emas_are_made_from_the_minute_bars(redis_url):
    """Chart timeframes (issue 23): 5-minute candles aggregate the day's 1-minute bars (open of
    the first, high/low over all, close of the last, volumes summed, the day's VWAP of the last)
    and EMA 9/20 weigh each close by 2 / (n + 1) from the first on."""
    async with running_gateway(redis_url) as gw, chromium() as browser:
        page, errors = await open_page(browser, gw.url + "/")
        got = await page.evaluate(
            """async () => {
                const s = await import('/static/symbol.js');
                const m = 60000, t0 = 1741959000000;  // 2025-03-14 09:30 ET, a 5-min boundary
                const bars = [0, 1, 2, 3, 4, 5, 6].map((i) => ({ t: t0 + i * m, o: 10 + i,
                  h: 11 + i + (i === 2 ? 5 : 0), l: 9 + i - (i === 3 ? 4 : 0), c: 10.5 + i,
                  v: 100 * (i + 1), a: 10 + i / 10 }));
                return { five: s.aggregate(bars, 5), one: s.aggregate(bars, 1).length,
                         ema: s.ema([10, 20, 30], 3), frames: s.FRAMES };
            }"""
        )
        assert not errors, errors
    first, second = got["five"]
    assert first == {
        "t": 1741959000000, "o": 10, "h": 18, "l": 8, "c": 14.5, "v": 1500, "a": 10.4,
    }  # fmt: skip
    assert second == {
        "t": 1741959300000, "o": 15, "h": 17, "l": 14, "c": 16.5, "v": 1300, "a": 10.6,
    }  # fmt: skip
    assert got["one"] == 7 and got["frames"] == [1, 5]
    assert got["ema"] == [10, 15, 22.5]  # k = 0.5: 10, 0.5*20 + 0.5*10, 0.5*30 + 0.5*15
