"""The dashboard in headless Chromium: live boards, updates, reconnect + resync, a screenshot."""

from __future__ import annotations

import asyncio
import random
import time

import pytest
import redis.asyncio as aioredis
from playwright.async_api import async_playwright

from stampede import keys
from stampede.boards import BOARDS_BY_NAME
from stampede.tools import localstack
from support.gateway import DAY, publish, running_gateway

pytestmark = pytest.mark.browser

CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]
TICKERS = [
    "NVDA",
    "TSLA",
    "AMD",
    "PLTR",
    "SOFI",
    "MARA",
    "RIOT",
    "GME",
    "AMC",
    "NIO",
    "LCID",
    "RIVN",
    "SNDL",
    "BBAI",
    "SOUN",
    "HOLO",
    "MULN",
    "FFIE",
    "CVNA",
    "UPST",
    "AFRM",
    "HOOD",
    "COIN",
    "SMCI",
    "ARM",
    "IONQ",
    "RGTI",
    "QUBT",
    "OPEN",
    "WISH",
]

# The `last` cell of a symbol's row on the volume board, in page JavaScript.
LAST_CELL = (
    'document.querySelector(`.board[data-board="volume"] tr[data-sym="${sym}"] '
    'td[data-col="last"]`)'
)


class DemoMarket:
    """A plausible pre-open market written the way the scoring functions write it."""

    def __init__(self, redis: aioredis.Redis) -> None:
        self.redis = redis
        self.rng = random.Random(3)
        self.t = 1_741_958_400_000  # 2025-03-14 09:20 ET
        self.rows = {}
        for sym in TICKERS:
            prev = self.rng.choice(
                [self.rng.uniform(0.6, 5), self.rng.uniform(5, 60), self.rng.uniform(60, 400)]
            )
            last = prev * self.rng.uniform(0.85, 1.6)
            self.rows[sym] = {
                "sym": sym,
                "prev_close": prev,
                "last": last,
                "open": last * self.rng.uniform(0.9, 1.05),
                "volume": self.rng.randint(20_000, 9_000_000),
                "rvol": self.rng.uniform(0.4, 25),
                "change_1m_pct": self.rng.uniform(-3, 6),
                "has_reference": "1",
                "halted": "0",
            }
        self.rows["WISH"]["has_reference"] = "0"  # a new listing: no previous close
        self.rows["FFIE"]["halted"] = "1"
        self.rows["FFIE"]["halt_time"] = self.t - 60_000
        self.rows["MULN"]["halt_time"] = self.t - 400_000  # halted earlier, resumed

    def fields(self, r: dict) -> dict[str, str]:
        out = {
            "sym": r["sym"],
            "last": f"{r['last']:.4f}",
            "volume": str(r["volume"]),
            "has_reference": r["has_reference"],
            "halted": r["halted"],
            "updated_ms": str(self.t),
            "change_1m_pct": f"{r['change_1m_pct']:.3f}",
        }
        if r["has_reference"] == "1":
            out.update(
                prev_close=f"{r['prev_close']:.4f}",
                change_pct=f"{(r['last'] / r['prev_close'] - 1) * 100:.3f}",
                gap_pct=f"{(r['open'] / r['prev_close'] - 1) * 100:.3f}",
                rvol=f"{r['rvol']:.2f}",
            )
        if "halt_time" in r:
            out["halt_time"] = str(r["halt_time"])
        return out

    async def write(self, symbols: list[str]) -> None:
        pipe = self.redis.pipeline(transaction=True)
        boards = ("gainers", "gappers", "momentum_1m", "volume", "rvol", "halts")
        for sym in symbols:
            fields = self.fields(self.rows[sym])
            pipe.hset(keys.row(DAY, sym), mapping=fields)
            for name in boards:
                metric = BOARDS_BY_NAME[name].metric
                if metric in fields:  # never ranked on a guess: no reference, no % change rank
                    pipe.zadd(keys.board(DAY, name), {sym: float(fields[metric])})
        await pipe.execute()
        await publish(self.redis, DAY, list(boards), self.t, int(time.time() * 1000))

    async def move(self, n: int = 6) -> None:
        self.t += 700
        movers = self.rng.sample(TICKERS, n)
        for sym in movers:
            r = self.rows[sym]
            r["last"] *= self.rng.uniform(0.97, 1.06)
            r["volume"] += self.rng.randint(1_000, 300_000)
            r["change_1m_pct"] = self.rng.uniform(-3, 8)
            r["rvol"] *= self.rng.uniform(0.98, 1.1)
        await self.write(movers)


async def cell(page, board: str, sym: str, col: str) -> str:
    return await page.locator(
        f'.board[data-board="{board}"] tr[data-sym="{sym}"] td[data-col="{col}"]'
    ).inner_text()


async def test_dashboard_shows_live_boards_updates_and_recovers(redis_url, artifacts_dir):
    redis = aioredis.from_url(redis_url)
    market = DemoMarket(redis)
    await market.write(TICKERS)
    port = localstack.free_port()
    async with async_playwright() as pw:
        browser = await pw.chromium.launch(executable_path="/usr/bin/chromium", args=CHROMIUM_ARGS)
        page = await browser.new_page(viewport={"width": 1680, "height": 1000})
        errors: list[str] = []
        page.on("pageerror", lambda exc: errors.append(str(exc)))
        async with running_gateway(redis_url, port=port, gateway_stale_seconds=30) as gw:
            await page.goto(gw.url + "/")
            await page.wait_for_selector('.board[data-board="gainers"] tbody tr')
            assert await page.locator("#conn").inner_text() == "LIVE"
            for name in ("gainers", "gappers", "momentum_1m", "volume", "rvol", "halts"):
                assert await page.locator(f'.board[data-board="{name}"] tbody tr').count() > 0, name
            # the page holds exactly what the gateway ranks
            api = (await (await page.request.get(gw.url + "/api/boards/gainers?limit=20")).json())[
                "rows"
            ]
            shown = await page.locator('.board[data-board="gainers"] tbody tr').evaluate_all(
                "rows => rows.map(r => r.dataset.sym)"
            )
            assert shown == [r["sym"] for r in api]
            # halt badge; a symbol without reference data is marked and not ranked on % change
            assert (
                "HALT"
                in await page.locator(
                    '.board[data-board="halts"] tr[data-sym="FFIE"] td.sym'
                ).inner_text()
            )
            assert (
                "RESUMED"
                in await page.locator(
                    '.board[data-board="halts"] tr[data-sym="MULN"] td.sym'
                ).inner_text()
            )
            assert (
                await page.locator('.board[data-board="gainers"] tr[data-sym="WISH"]').count() == 0
            )
            wish = page.locator('.board[data-board="volume"] tr[data-sym="WISH"]')
            if await wish.count():
                assert "NR" in await wish.locator("td.sym").inner_text()
                assert await wish.get_attribute("class") == "noref" or "noref" in (
                    await wish.get_attribute("class")
                )
            # live updates: move one symbol and see its price change on screen
            sym = await page.locator('.board[data-board="volume"] tbody tr').first.get_attribute(
                "data-sym"
            )
            market.rows[sym]["last"] = 123.45
            market.rows[sym]["volume"] += 1
            market.t += 500
            await market.write([sym])
            await page.wait_for_function(
                f"(sym) => {LAST_CELL}?.textContent === '123.45'",
                arg=sym,
                timeout=10_000,
            )
            for _ in range(8):
                await market.move()
                await asyncio.sleep(0.15)
            await asyncio.sleep(1.5)  # let rank animations settle for a clean picture
            await page.screenshot(
                path=str(artifacts_dir / "dashboard.png"), full_page=True, animations="disabled"
            )
            # filters reach the server and come back as a filtered snapshot
            await page.fill("#min-price", "1")
            await page.fill("#max-price", "20")
            await page.click("#filters button[type=submit]")
            await page.wait_for_function(
                """() => [...document.querySelectorAll('.board[data-board="volume"] td[data-col="last"]')]
                      .every(td => {
                        const v = parseFloat(td.textContent.replace(/,/g, ''));
                        return v >= 1 && v <= 20;
                      })""",
                timeout=10_000,
            )
            await page.click("#clear-filters")
        # the gateway goes away (a Knative revision timeout or a redeploy looks the same)
        await page.wait_for_function("() => document.body.dataset.conn !== 'live'", timeout=10_000)
        market.rows[sym]["last"] = 77.77
        market.t += 500
        await market.write([sym])  # changes while the page is offline
        async with running_gateway(redis_url, port=port, gateway_stale_seconds=30):
            await page.wait_for_function(
                "() => document.body.dataset.conn === 'live'", timeout=15_000
            )
            await page.wait_for_function(
                f"(sym) => {LAST_CELL}?.textContent === '77.77'",
                arg=sym,
                timeout=10_000,
            )
        await browser.close()
    await redis.aclose()
    assert not errors, errors
