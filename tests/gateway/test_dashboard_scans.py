"""Scans, alerts and layout in the real Chromium, against a real gateway and Redis."""

from __future__ import annotations

import json

import pytest
import redis.asyncio as aioredis

from stampede.tools import localstack
from support.browser import TICKERS, DemoMarket, chromium, open_page
from support.gateway import running_gateway

pytestmark = pytest.mark.browser

SCAN = "Cheap runners"
PANEL = f'.board:has(h2:text-is("{SCAN}"))'


async def create_scan(page, cooldown_s: float) -> str:
    """Make the scan through the editor, as a trader would; returns its subscription id."""
    await page.click("#new-scan")
    await page.fill("#ed-name", SCAN)
    await page.select_option("#ed-board", "gainers")
    for field, side, value in (("change_pct", "min", "20"), ("price", "max", "20")):
        await page.click("#ed-add-filter")
        row = page.locator("#ed-filters .filter-row").last
        await row.locator(".f-field").select_option(field)
        await row.locator(f".f-{side}").fill(value)
    await page.check("#ed-alert")
    await page.select_option("#ed-sound", "ping")
    await page.fill("#ed-cooldown", str(cooldown_s))
    await page.click("#ed-save")
    await page.wait_for_selector(f"{PANEL} tbody tr")
    return await page.locator(PANEL).get_attribute("data-scan")


async def shown(page, selector: str = PANEL) -> list[str]:
    return await page.locator(f"{selector} tbody tr").evaluate_all(
        "rows => rows.map(r => r.dataset.sym)"
    )


async def alerts_for(page, sym: str) -> int:
    return await page.locator(f'#alert-log tr[data-sym="{sym}"]').count()


async def reenter(page, market: DemoMarket, sym: str, pause_ms: int) -> None:
    """Leave the scan (the page sees it go), wait, enter again (the page sees it back)."""
    await market.set_change(sym, 1)
    await page.locator(f'{PANEL} tr[data-sym="{sym}"]').wait_for(state="detached")
    await page.wait_for_timeout(pause_ms)
    await market.set_change(sym, 30 + pause_ms / 1000)
    await page.locator(f'{PANEL} tr[data-sym="{sym}"]').wait_for()


async def wait_alerts(page, sym: str, count: int) -> None:
    await page.wait_for_function(
        '([sym, n]) => document.querySelectorAll(`#alert-log tr[data-sym="${sym}"]`).length === n',
        arg=[sym, count],
    )


def passes(market: DemoMarket, sym: str) -> bool:
    r = market.rows[sym]
    return r["has_reference"] == "1" and r["last"] <= 20 and r["last"] / r["prev_close"] >= 1.2


async def test_a_scan_made_in_the_page_filters_server_side_and_alerts_once_per_cooldown(
    redis_url, demo_market, artifacts_dir
):
    market = demo_market
    async with running_gateway(redis_url) as gw, chromium() as browser:
        frames: list[dict] = []
        page, errors = await open_page(browser, "about:blank")
        page.on(
            "websocket",
            lambda ws: ws.on("framereceived", lambda text: frames.append(json.loads(text))),
        )
        await page.goto(gw.url + "/")
        await page.wait_for_selector('.board[data-board="gainers"] tbody tr')
        sub_id = await create_scan(page, cooldown_s=3)

        # the gateway sent only matching rows: the snapshot and every row a diff added
        expected = [
            s for s in (await shown(page, '.board[data-scan="gainers"]')) if passes(market, s)
        ]
        ours = [f for f in frames if f.get("id") == sub_id]
        snapshot = next(f for f in ours if f["type"] == "snapshot")
        assert snapshot["filters"] == {"min_change_pct": 20, "max_price": 20}
        sent = [r["sym"] for r in snapshot["rows"]]
        assert sent and all(passes(market, s) for s in sent)
        assert len(sent) < len(await shown(page, '.board[data-scan="gainers"]'))  # it filtered
        rest = await page.request.get(
            gw.url + "/api/boards/gainers", params={"min_change_pct": 20, "max_price": 20}
        )
        assert await shown(page) == [r["sym"] for r in (await rest.json())["rows"]]
        assert set(sent) >= set(expected[: len(sent)])
        assert await page.evaluate("window.__tones.length") == 0  # a snapshot never alerts

        # a symbol enters the scan: one alert, one tone, one log line
        sym = next(
            s for s in TICKERS if market.rows[s]["prev_close"] < 15 and not passes(market, s)
        )
        await market.set_change(sym, 30)
        await page.wait_for_selector(f'#alert-log tr[data-sym="{sym}"]', state="attached")
        assert await page.evaluate("window.__tones") == [1568]  # the ping the scan chose
        log = await page.locator(f'#alert-log tr[data-sym="{sym}"] td').all_inner_texts()
        assert log[1:3] == [sym, SCAN] and "change_pct" in log[4] and "entered" in log[4]
        # at the feed's time, as the boards show it (the demo market is at 09:2x ET), not the wall
        assert log[0].startswith("09:2"), log[0]
        # out and back in within the cooldown: no second alert
        await reenter(page, market, sym, pause_ms=0)
        await page.wait_for_timeout(300)
        assert await alerts_for(page, sym) == 1
        assert await page.evaluate("window.__tones.length") == 1
        # after the cooldown the next entry alerts again
        await reenter(page, market, sym, pause_ms=3000)
        await wait_alerts(page, sym, 2)
        assert await page.evaluate("window.__tones.length") == 2
        # muted (the scan's own mute): logged, silent
        await page.locator(f'{PANEL} button[data-action="mute"]').click()
        await reenter(page, market, sym, pause_ms=3000)
        await wait_alerts(page, sym, 3)
        assert await page.evaluate("window.__tones.length") == 2
        await page.click("#toggle-log")
        await page.wait_for_timeout(400)
        await page.screenshot(
            path=str(artifacts_dir / "dashboard-scans.png"), animations="disabled"
        )
        assert not errors, errors


# Records desktop notifications the page shows (the browser's own Notification, subclassed).
NOTIFICATION_SPY = """
window.__notes = [];
window.Notification = class extends window.Notification {
  constructor(title, options) { window.__notes.push(title); super(title, options); }
};
"""


async def test_halts_alert_by_default_but_a_snapshot_after_a_reconnect_does_not(
    redis_url, demo_market
):
    market = demo_market
    port = localstack.free_port()
    async with chromium() as browser:
        async with running_gateway(redis_url, port=port) as gw:
            page, errors = await open_page(browser, "about:blank", permissions=["notifications"])
            await page.add_init_script(NOTIFICATION_SPY)
            await page.goto(gw.url + "/")
            await page.wait_for_selector('.board[data-board="halts"] tr[data-sym="FFIE"]')
            await market.set_halt("NVDA", True)  # a live halt: alerts, no setup needed
            await page.wait_for_selector('#alert-log tr[data-sym="NVDA"]', state="attached")
            assert await page.evaluate("window.__notes") == []  # notifications are opt-in
            await page.click("#notify")
            assert await page.locator("#notify").inner_text() == "Notify on"
            await market.set_halt("NVDA", False)  # and its resume
            await wait_alerts(page, "NVDA", 2)
            assert await page.evaluate("window.__notes") == ["NVDA — Halts"]
            whys = await page.locator(
                '#alert-log tr[data-sym="NVDA"] td:nth-child(5)'
            ).all_inner_texts()
            assert whys == ["resumed", "halted"]
            tones = await page.evaluate("window.__tones.length")
            assert tones > 0
            await page.click("#master-mute")  # silences every scan; the log still records
            await market.set_halt("AMD", True)
            await page.wait_for_selector('#alert-log tr[data-sym="AMD"].silent', state="attached")
            assert await page.evaluate("window.__tones.length") == tones
            assert await page.evaluate("window.__notes.length") == 1
            await page.click("#master-mute")
        await page.wait_for_function("() => document.body.dataset.conn !== 'live'")
        await market.set_halt("TSLA", True)  # happens while the page is offline
        async with running_gateway(redis_url, port=port):
            await page.wait_for_selector(
                '.board[data-board="halts"] tr[data-sym="TSLA"]', timeout=20_000
            )
            await page.wait_for_timeout(500)
            assert await alerts_for(page, "TSLA") == 0  # it came in a snapshot: not news
            assert await page.evaluate("window.__tones.length") == tones
            await market.set_halt("TSLA", False)  # a real change after the reconnect alerts
            await page.wait_for_selector('#alert-log tr[data-sym="TSLA"]', state="attached")
        assert not errors, errors


async def test_layout_and_scans_persist_across_a_reload_and_move_as_json(
    redis_url, demo_market, artifacts_dir, tmp_path
):
    async with running_gateway(redis_url) as gw, chromium() as browser:
        page, errors = await open_page(browser, gw.url + "/")
        await page.wait_for_selector('.board[data-board="gainers"] tbody tr')
        await create_scan(page, cooldown_s=60)
        # reorder: gappers one to the left; hide volume; resize gainers by its corner
        await page.click('.board[data-scan="gappers"] button[data-action="left"]')
        await page.click('.board[data-scan="volume"] button[data-action="hide"]')
        box = await page.locator('.board[data-scan="gainers"]').bounding_box()
        await page.mouse.move(box["x"] + box["width"] - 3, box["y"] + box["height"] - 3)
        await page.mouse.down()
        await page.mouse.move(box["x"] + 420, box["y"] + 330, steps=8)
        await page.mouse.up()
        # columns: momentum shows only price and % change (and, always, what it ranks by)
        await page.click('.board[data-scan="momentum_1m"] button[data-action="edit"]')
        for box_ in await page.locator("#ed-columns input").all():
            value = await box_.get_attribute("value")
            await box_.set_checked(value in ("last", "change_pct"))
        await page.click("#ed-save")
        order = await page.locator(".board").evaluate_all("els => els.map(e => e.dataset.scan)")
        width = (await page.locator('.board[data-scan="gainers"]').bounding_box())["width"]
        assert order[:2] == ["gappers", "gainers"] and "volume" not in order
        assert 400 <= width <= 440

        await page.reload()
        await page.wait_for_selector('.board[data-board="gainers"] tbody tr')
        assert (
            await page.locator(".board").evaluate_all("els => els.map(e => e.dataset.scan)")
        ) == order
        box = await page.locator('.board[data-scan="gainers"]').bounding_box()
        assert abs(box["width"] - width) <= 2
        headers = await page.locator('.board[data-scan="momentum_1m"] thead th').all_inner_texts()
        assert [h.upper() for h in headers] == ["#", "SYMBOL", "LAST", "% CHG", "MOM 1M"]
        assert await page.locator(PANEL).count() == 1

        # export the scans, delete ours, import the file: it is back, filters and all
        await page.click("#scans-menu summary")
        async with page.expect_download() as download:
            await page.click("#export-scans")
        path = tmp_path / "scans.json"
        await (await download.value).save_as(path)
        exported = json.loads(path.read_text())
        ours = next(s for s in exported["scans"] if s["name"] == SCAN)
        assert ours["filters"] == {"min_change_pct": 20, "max_price": 20} and ours["alert"]
        await page.locator(f'{PANEL} button[data-action="edit"]').click()
        await page.click("#ed-delete")
        assert await page.locator(PANEL).count() == 0
        await page.set_input_files("#import-scans", str(path))
        await page.wait_for_selector(f"{PANEL} tbody tr")
        bad = tmp_path / "bad.json"
        bad.write_text(json.dumps({"scans": [{"name": "x", "board": "nope"}]}))
        await page.set_input_files("#import-scans", str(bad))
        await page.wait_for_function(
            "() => document.getElementById('import-error').textContent.includes('unknown board')"
        )
        assert await page.locator(PANEL).count() == 1  # a bad file changes nothing
        # rename it: the new name is its title, after a reload too
        await page.locator(f'{PANEL} button[data-action="edit"]').click()
        await page.fill("#ed-name", "Cheap runners, renamed")
        await page.click("#ed-save")
        await page.reload()
        renamed = page.locator('.board:has(h2:text-is("Cheap runners, renamed")) tbody tr')
        await renamed.first.wait_for()
        assert not errors, errors


async def test_a_phone_shows_one_board_at_a_time_with_tabs(redis_url, demo_market, artifacts_dir):
    async with running_gateway(redis_url) as gw, chromium() as browser:
        page, errors = await open_page(
            browser,
            gw.url + "/",
            viewport={"width": 390, "height": 844},
            device_scale_factor=2,
            is_mobile=True,
            has_touch=True,
        )
        await page.wait_for_selector(".board.active tbody tr")
        assert await page.locator(".board:visible").count() == 1
        tabs = page.locator("#tabs button")
        assert await tabs.count() == 7
        await tabs.nth(5).click()  # halts (near_luld is the 7th)
        await page.wait_for_selector('.board[data-board="halts"]:visible')
        assert await page.locator(".board:visible").count() == 1
        await tabs.nth(0).click()
        visible = page.locator(".board:visible")
        assert await visible.get_attribute("data-scan") == "gainers"
        # readable without zooming: nothing wider than the screen, text at least 12 px
        assert await page.evaluate("document.documentElement.scrollWidth") <= 390
        size = await page.locator(".board.active td.sym").first.evaluate(
            "td => parseFloat(getComputedStyle(td).fontSize)"
        )
        assert size >= 12
        await page.screenshot(
            path=str(artifacts_dir / "dashboard-phone.png"), animations="disabled"
        )
        # a tap on a symbol opens its view over the whole screen
        await page.locator(".board.active td.sym").first.tap()
        panel = await page.locator("#symbol").bounding_box()
        assert panel and panel["width"] == 390
        await page.screenshot(path=str(artifacts_dir / "symbol-panel-phone.png"))
        assert not errors, errors


PRESETS = {
    "low_float_runners": {
        "min_price": 1,
        "max_price": 20,
        "min_change_pct": 10,
        "min_rvol": 5,
        "max_float_shares": 20e6,
    },
    "hod_momentum": {"max_hod_age_s": 60, "min_change_1m_pct": 2, "min_price": 1, "max_price": 20},
    "halts": {},
}


async def test_presets_subscribe_with_their_filters_and_the_gateway_accepts_them(redis_url):
    redis = aioredis.from_url(redis_url)
    market = DemoMarket(redis)
    market.rows["SOUN"]["extra"] = {"float_shares": 9_000_000}
    market.rows["GME"]["extra"] = {"premarket_volume": 250_000}  # the one pre-market gapper
    await market.write(TICKERS)
    async with running_gateway(redis_url) as gw, chromium() as browser:
        sent: list[dict] = []
        got: list[dict] = []
        page, errors = await open_page(browser, "about:blank")

        def watch(ws) -> None:
            ws.on("framesent", lambda text: sent.append(json.loads(text)))
            ws.on("framereceived", lambda text: got.append(json.loads(text)))

        page.on("websocket", watch)
        await page.goto(gw.url + "/")
        await page.wait_for_selector('.board[data-board="gainers"] tbody tr')
        fields = next(m for m in got if m["type"] == "hello")["fields"]
        presets = ("low_float_runners", "gap_and_go", "hod_momentum", "halts", "premarket_gappers")
        for i, key in enumerate(presets):
            await page.click("#new-scan")
            await page.select_option("#ed-preset", key)
            await page.click("#ed-save")
            await page.wait_for_function(
                "(n) => window.stampede.state.scans.length === n",
                arg=8 + i,  # the seven default scans and one more per preset
            )
        subs = [m for m in sent if m.get("type") == "subscribe" and m["id"].startswith("s")]
        pm = "premarket_volume" if "premarket_volume" in fields else "volume"
        premarket = next(m for m in subs if m.get("filters") == {f"min_{pm}": 1})
        assert premarket["board"] == "gappers"
        by_board = {m["board"]: m.get("filters", {}) for m in subs if m is not premarket}
        assert by_board["gainers"] == PRESETS["low_float_runners"]
        assert by_board["new_highs"] == PRESETS["hod_momentum"]
        assert by_board["gappers"] == {"min_gap_pct": 4, f"min_{pm}": 100000}
        await page.wait_for_timeout(500)
        assert not [m for m in got if m["type"] == "error"]
        snapshots = {m["id"]: m for m in got if m["type"] == "snapshot"}
        assert all(s["id"] in snapshots for s in subs)
        # this gateway knows premarket_volume: only the symbol that traded before the open passes
        assert [r["sym"] for r in snapshots[premarket["id"]]["rows"]] == ["GME"]
        runners = next(s for s in subs if s["board"] == "gainers")["id"]
        assert all(
            r.get("float_shares", 1e12) < 20e6 for r in snapshots[runners]["rows"]
        )  # only symbols whose float is known and low
        assert not errors, errors
    await redis.aclose()


async def test_one_tab_sounds_every_tab_logs_and_the_log_survives_a_reload(redis_url, demo_market):
    market = demo_market
    """Issue 23, defect 10: with two tabs open an alert sounds once (the tab holding the
    sounding lock), both log it, and the log is still there after a reload."""
    async with running_gateway(redis_url) as gw, chromium() as browser:
        first, errors = await open_page(browser, gw.url + "/")
        await first.wait_for_selector('.board[data-board="gainers"] tbody tr')
        await create_scan(first, cooldown_s=60)
        second = await first.context.new_page()  # same browser profile: shares the scans
        second.on("pageerror", lambda exc: errors.append(str(exc)))
        await second.goto(gw.url + "/")
        await second.wait_for_selector(f"{PANEL} tbody tr")
        sym = next(
            s for s in TICKERS if market.rows[s]["prev_close"] < 15 and not passes(market, s)
        )
        await market.set_change(sym, 30)
        for page in (first, second):
            await page.wait_for_selector(f'#alert-log tr[data-sym="{sym}"]', state="attached")
        await first.wait_for_timeout(500)
        tones = [await p.evaluate("window.__tones.length") for p in (first, second)]
        assert sorted(tones) == [0, 1], tones  # one tab sounded, once
        await second.reload()
        await second.wait_for_selector(f'#alert-log tr[data-sym="{sym}"]', state="attached")
        assert await alerts_for(second, sym) == 1
        assert not errors, errors


SPEECH_SPY = """
window.__said = [];
Object.defineProperty(window, "speechSynthesis", {
  configurable: true,
  value: { pending: false, cancel() {}, speak(utterance) { window.__said.push(utterance.text); } },
});
"""


async def test_a_scan_speaks_its_alerts_only_when_told_to(redis_url, demo_market):
    market = demo_market
    """Voice alerts (issue 23): the symbol, spelled out, and the scan's name, with the browser's
    speech synthesis; per scan, off by default (the default Halts scan alerts but is silent)."""
    async with running_gateway(redis_url) as gw, chromium() as browser:
        page, errors = await open_page(browser, "about:blank")
        await page.add_init_script(SPEECH_SPY)
        await page.goto(gw.url + "/")
        await page.wait_for_selector('.board[data-board="halts"] tr[data-sym="FFIE"]')
        await market.set_halt("NVDA", True)
        await page.wait_for_selector('#alert-log tr[data-sym="NVDA"]', state="attached")
        assert await page.evaluate("window.__said") == []  # voice is off by default
        await page.click("#new-scan")
        await page.fill("#ed-name", "Halt voice")
        await page.select_option("#ed-board", "halts")
        await page.check("#ed-alert")
        await page.check("#ed-voice")
        await page.fill("#ed-cooldown", "0")
        await page.click("#ed-save")
        await page.wait_for_selector('.board:has(h2:text-is("Halt voice")) tbody tr')
        await market.set_halt("AMD", True)
        await page.wait_for_function("() => window.__said.length > 0")
        assert await page.evaluate("window.__said") == ["A M D, Halt voice"]
        saved = await page.evaluate(
            "() => window.stampede.state.scans.find((s) => s.name === 'Halt voice').voice"
        )
        assert saved is True  # kept with the scan, so it survives a reload and an export
        assert not errors, errors
