"""A simulator left running crosses midnight into the next trading day's pre-market, as a
scanner running for days would see it: nothing between 20:00 and 04:00, then trades of the new
day, REST serving the day just ended as history, truth starting afresh."""

from __future__ import annotations

import asyncio
import contextlib
import json
from datetime import date

import httpx

from stampede import markettime
from stampede.sim.model import MarketModel
from stampede.sim.testing import running_simulator
from stampede.sim.universe import build_history, build_universe
from support.sim import open_session

THURSDAY, FRIDAY = "2025-03-13", "2025-03-14"


async def test_the_feed_rolls_from_after_hours_into_the_next_premarket() -> None:
    trades: list[int] = []
    async with running_simulator(
        date=THURSDAY,
        start="19:50:00",
        speed=2000,
        symbols=200,
        seed=3,
        activity=0.05,
        hold_clock=True,
    ) as sim:
        ws = await open_session(sim.ws_url, sim.api_key, "T.*", max_size=None)
        rest = httpx.AsyncClient(base_url=sim.rest_url, params={"apiKey": sim.api_key})
        await rest.get("/_sim/clock/start")  # once subscribed: the last after-hours minute is seen
        try:
            while True:
                try:
                    frame = json.loads(await asyncio.wait_for(ws.recv(), 0.5))
                    trades += [item["t"] for item in frame if item["ev"] == "T"]
                except TimeoutError:
                    pass
                clock = (await rest.get("/_sim/clock")).json()
                # until the new day's first trades are in (the feed sends a second's frames
                # after the second: a busy machine reads them later), at most to 09:00, still
                # the pre-market (at 2000x an hour is 1.8 wall seconds: too short on a busy
                # machine for the few trades of a thin pre-market)
                friday_seen = any(
                    markettime.et_datetime(t).date().isoformat() == FRIDAY for t in trades
                )
                if (clock["et"] >= f"{FRIDAY}T04:01" and friday_seen) or clock[
                    "et"
                ] >= f"{FRIDAY}T09":
                    break
            status = (await rest.get("/v1/marketstatus/now")).json()
            grouped = (
                await rest.get(f"/v2/aggs/grouped/locale/us/market/stocks/{THURSDAY}")
            ).json()
            truth = (await rest.get("/_sim/truth", params={"limit": "5"})).json()
        finally:
            await rest.aclose()
            await ws.close()
    days = [markettime.et_datetime(t) for t in trades]
    thursday = [d for d in days if d.date().isoformat() == THURSDAY]
    friday = [d for d in days if d.date().isoformat() == FRIDAY]
    assert thursday and all(d.hour < 20 for d in thursday)  # after-hours ends at 20:00
    assert friday and all(d.hour >= 4 for d in friday)  # the pre-market starts at 04:00
    assert status["serverTime"].startswith(FRIDAY) and status["market"] == "extended-hours"
    assert grouped["resultsCount"] == 200  # yesterday is history now
    assert truth["day"] == FRIDAY and truth["prev_session"] == THURSDAY


def test_activity_scales_the_market_days_trades() -> None:
    day = date.fromisoformat(FRIDAY)
    universe = build_universe(3, 400)
    history = build_history(universe, day, 3, 3)
    second = 10 * 3600

    def trades(activity: float) -> int:
        model = MarketModel(universe, history, day, 3, activity=activity)
        return sum(
            len(out.trades) for out in map(model.step, range(second, second + 60)) if out.trades
        )

    full, tenth = trades(1.0), trades(0.1)
    assert abs(tenth / full - 0.1) < 0.03, (tenth, full)
    assert full > 1000


async def test_a_held_clock_starts_when_asked() -> None:
    async with running_simulator(
        date=THURSDAY, start="19:58:00", speed=600, symbols=200, hold_clock=True
    ) as sim:
        rest = httpx.AsyncClient(base_url=sim.rest_url, params={"apiKey": sim.api_key})
        ws = await open_session(sim.ws_url, sim.api_key, "T.*")
        try:
            await asyncio.sleep(1.0)  # 10 simulated minutes, were the clock running
            held = (await rest.get("/_sim/clock")).json()
            with contextlib.suppress(TimeoutError):
                assert not await asyncio.wait_for(ws.recv(), 0.3)  # nothing is sent meanwhile
            started = (await rest.get("/_sim/clock/start")).json()
            await asyncio.sleep(0.5)
            running = (await rest.get("/_sim/clock")).json()
            trades = json.loads(await asyncio.wait_for(ws.recv(), 5))
        finally:
            await ws.close()
            await rest.aclose()
    assert held["et"] == f"{THURSDAY}T19:58:00.000-04:00"
    assert started["et"].startswith(f"{THURSDAY}T19:58:00")
    assert running["et"] > f"{THURSDAY}T19:58:30"
    assert trades[0]["ev"] == "T"
