"""Driving the dashboard in the real Chromium: launch options and a demo market.

The market is written the way the scoring functions write Redis (string fields, boards as
sorted sets, a change notice after each write), so the page sees what it would see live.
"""

from __future__ import annotations

import contextlib
import random
import time
from collections.abc import AsyncIterator
from typing import Any

import redis.asyncio as aioredis
from playwright.async_api import Browser, Page, async_playwright

from stampede import keys
from stampede.boards import BOARDS_BY_NAME
from support.gateway import DAY, publish

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
        # as the halts function writes them: FFIE is halted, MULN halted 5 min and resumed
        self.rows["FFIE"]["halted"] = "1"
        self.rows["FFIE"]["halt_time"] = self.t - 60_000
        self.rows["FFIE"]["extra"] = {"halt_start_ms": self.t - 60_000}
        self.rows["MULN"]["halt_time"] = self.t - 400_000
        self.rows["MULN"]["extra"] = {
            "halt_start_ms": self.t - 700_000,
            "resume_ms": self.t - 400_000,
        }
        for sym, upper, lower in (("RGTI", 1.006, 0.9), ("QUBT", 1.1, 0.992)):  # near a band
            self.rows[sym]["luld"] = (
                self.rows[sym]["last"] * upper,
                self.rows[sym]["last"] * lower,
            )

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
        if "luld" in r:
            upper, lower = r["luld"]
            distance = min(upper - r["last"], r["last"] - lower) / r["last"] * 100
            out.update(
                luld_upper=f"{upper:.4f}",
                luld_lower=f"{lower:.4f}",
                luld_distance_pct=f"{distance:.3f}",
            )
        out.update({k: str(v) for k, v in r.get("extra", {}).items()})
        return out

    async def write(self, symbols: list[str]) -> None:
        pipe = self.redis.pipeline(transaction=True)
        boards = ("gainers", "gappers", "momentum_1m", "volume", "rvol", "halts", "near_luld")
        for sym in symbols:
            fields = self.fields(self.rows[sym])
            pipe.hset(keys.row(DAY, sym), mapping=fields)
            for name in boards:
                metric = BOARDS_BY_NAME[name].metric
                if metric in fields:  # never ranked on a guess: no reference, no % change rank
                    pipe.zadd(keys.board(DAY, name), {sym: float(fields[metric])})
        await pipe.execute()
        await publish(self.redis, DAY, list(boards), self.t, int(time.time() * 1000))

    async def set_change(self, sym: str, change_pct: float) -> None:
        """Move one symbol's price to ``change_pct`` from its previous close, and notify."""
        r = self.rows[sym]
        r["last"] = r["prev_close"] * (1 + change_pct / 100)
        self.t += 200
        await self.write([sym])

    async def set_halt(self, sym: str, halted: bool) -> None:
        r = self.rows[sym]
        self.t += 200
        r["halted"], r["halt_time"] = ("1" if halted else "0"), self.t
        await self.write([sym])

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


# Counts every tone the page starts, by frequency: a spy on the Web Audio API itself.
AUDIO_SPY = """
window.__tones = [];
const create = AudioContext.prototype.createOscillator;
AudioContext.prototype.createOscillator = function () {
  const osc = create.call(this);
  const start = osc.start.bind(osc);
  osc.start = (...args) => { window.__tones.push(osc.frequency.value); return start(...args); };
  return osc;
};
"""


async def open_page(browser: Browser, url: str, **context: Any) -> tuple[Page, list[str]]:
    """A page at ``url`` with the audio spy installed; the list collects its JS errors."""
    ctx = await browser.new_context(**{"viewport": {"width": 1680, "height": 1000}, **context})
    await ctx.add_init_script(AUDIO_SPY)
    page = await ctx.new_page()
    errors: list[str] = []
    page.on("pageerror", lambda exc: errors.append(str(exc)))
    await page.goto(url)
    return page, errors


@contextlib.asynccontextmanager
async def chromium() -> AsyncIterator[Browser]:
    """Debian's Chromium, headless; sound may start without a click (alerts are tested)."""
    async with async_playwright() as pw:
        browser = await pw.chromium.launch(
            executable_path="/usr/bin/chromium",
            args=[*CHROMIUM_ARGS, "--autoplay-policy=no-user-gesture-required"],
        )
        try:
            yield browser
        finally:
            await browser.close()
