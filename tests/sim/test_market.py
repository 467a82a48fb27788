"""The market the simulator sends: aggregates agree with the trades, truth agrees with the bars,
the same seed gives the same market."""

from __future__ import annotations

import asyncio
import itertools
import json
import math
from collections import defaultdict
from datetime import date

import httpx
import numpy as np

from stampede.conditions import eligibility
from stampede.sim.model import MarketModel
from stampede.sim.testing import running_simulator
from stampede.sim.universe import build_history, build_universe
from support.sim import DAY, open_session, recv_json


async def collect(ws, seconds: float) -> list[dict]:
    events: list[dict] = []
    loop = asyncio.get_running_loop()
    end = loop.time() + seconds
    while loop.time() < end:
        try:
            events.extend(await recv_json(ws, timeout=max(0.01, end - loop.time())))
        except TimeoutError:
            break
    return events


async def test_aggregates_are_built_from_the_trades_sent() -> None:
    # Start 2 s before a minute: the subscription lands within the first second, so the minute
    # that follows is seen whole whichever second the feed's first send covers.
    # Bars as first sent: a corrected re-send holds a late trade that is not on T (test_corrections).
    async with running_simulator(
        date=DAY, start="09:44:58", speed=5, symbols=400, seed=11, correction_rate=0
    ) as sim:
        ws = await open_session(sim.ws_url, sim.api_key, "T.*,A.*,AM.*")
        events = await collect(ws, 16)
        await ws.close()

    trades = [e for e in events if e["ev"] == "T"]
    bars = [e for e in events if e["ev"] == "A"]
    minute_bars = [e for e in events if e["ev"] == "AM"]
    first_trade = min(t["t"] for t in trades)
    by_second: dict[tuple[str, int], list[dict]] = defaultdict(list)
    for t in trades:
        by_second[(t["sym"], t["t"] // 1000 * 1000)].append(t)
    checked = 0
    for bar in bars:
        if bar["s"] < first_trade // 1000 * 1000 + 1000:
            continue  # its second started before we subscribed
        prints = by_second[(bar["sym"], bar["s"])]
        rules = [eligibility(t.get("c")) for t in prints]
        vol = [t for t, r in zip(prints, rules) if r.volume]
        last = [t for t, r in zip(prints, rules) if r.last]
        hl = [t for t, r in zip(prints, rules) if r.high_low]
        assert bar["v"] == sum(t["s"] for t in vol)
        assert bar["o"] == last[0]["p"] and bar["c"] == last[-1]["p"]
        assert bar["h"] == max(t["p"] for t in hl) and bar["l"] == min(t["p"] for t in hl)
        assert math.isclose(bar["vw"], sum(t["p"] * t["s"] for t in vol) / bar["v"], abs_tol=1e-4)
        assert bar["e"] - bar["s"] == 1000 and bar["av"] >= bar["v"] and bar["op"] > 0
        checked += 1
    assert checked > 200
    assert any(t.get("c") == [37] for t in trades), "odd lots are printed"

    # accumulated volume grows by exactly each bar's volume
    per_sym: dict[str, list[dict]] = defaultdict(list)
    for bar in bars:
        per_sym[bar["sym"]].append(bar)
    steps = 0
    for seq in per_sym.values():
        for prev, cur in itertools.pairwise(seq):
            assert cur["av"] == prev["av"] + cur["v"]
            steps += 1
    assert steps > 100

    # a minute bar is the sum of that minute's second bars
    complete = [
        m for m in minute_bars if m["s"] >= first_trade // 1000 * 1000
    ]  # the minute from 09:45:00
    assert complete, "at least one full minute was observed"
    for m in complete:
        seconds = [b for b in per_sym[m["sym"]] if m["s"] <= b["s"] < m["e"]]
        assert m["v"] == sum(b["v"] for b in seconds)
        assert m["h"] == max(b["h"] for b in seconds) and m["l"] == min(b["l"] for b in seconds)
        assert m["o"] == seconds[0]["o"] and m["c"] == seconds[-1]["c"]
        assert m["av"] == seconds[-1]["av"]


async def test_truth_matches_what_a_client_computes_from_sent_bars() -> None:
    async with running_simulator(date=DAY, start="09:29:50", speed=4, symbols=500, seed=21) as sim:
        ws = await open_session(sim.ws_url, sim.api_key, "A.*")
        events = await collect(ws, 8)
        await sim.pause_feed()
        events += await collect(ws, 1.0)  # drain what was already sent
        async with httpx.AsyncClient(base_url=sim.rest_url) as http:
            truth = (await http.get("/_sim/truth", params={"limit": "0"})).json()
            prev_session = truth["prev_session"]
            grouped = (
                await http.get(
                    f"/v2/aggs/grouped/locale/us/market/stocks/{prev_session}",
                    params={"apiKey": sim.api_key},
                )
            ).json()
        await ws.close()

    prev_close = {r["T"]: r["c"] for r in grouped["results"]}
    last: dict[str, float] = {}
    for ev in events:
        if ev["ev"] == "A":
            last[ev["sym"]] = ev["c"]
    change = {s: (c - prev_close[s]) / prev_close[s] * 100 for s, c in last.items()}
    expected = sorted(change, key=lambda s: (-change[s], s))
    assert [row["sym"] for row in truth["boards"]["gainers"]] == expected
    assert [row["value"] for row in truth["boards"]["gainers"]] == [change[s] for s in expected]
    assert [row["sym"] for row in truth["boards"]["losers"]] == sorted(
        change, key=lambda s: (change[s], s)
    )
    assert set(truth["symbols"]) == set(last)
    opened = [ev for ev in events if ev["ev"] == "A" and ev.get("op")]
    assert opened, "the official open appears after 09:30"
    assert all(ev["s"] >= sim.model.midnight_ms + 34_200_000 for ev in opened)
    early = [
        ev for ev in events if ev["ev"] == "A" and ev["e"] <= sim.model.midnight_ms + 34_200_000
    ]
    assert early and not [ev for ev in early if "op" in ev], [json.dumps(e) for e in early[:2]]


def test_same_seed_same_market() -> None:
    def run(seed: int) -> list[bytes]:
        day = date.fromisoformat(DAY)
        universe = build_universe(seed, 300)
        model = MarketModel(universe, build_history(universe, day, 3, seed), day, seed)
        model.fast_forward(9 * 3600 + 29 * 60)
        out = []
        for s in range(9 * 3600 + 29 * 60, 9 * 3600 + 31 * 60):
            for batch in model.step(s).batches():
                out += batch.encode(universe.symbols)
        return out

    first, again, other = run(4), run(4), run(5)
    assert len(first) > 1000 and first == again
    assert first != other


async def test_rest_errors_status_and_snapshots() -> None:
    async with (
        running_simulator(
            date=DAY, start="09:31:00", speed=1, symbols=200, rest_rate_limit=3
        ) as sim,
        httpx.AsyncClient(base_url=sim.rest_url) as http,
    ):
        r = await http.get("/v2/aggs/ticker/AAPL/prev", params={"apiKey": "nope"})
        assert (
            r.status_code == 401
            and r.json()["error"] == "Unknown API Key"
            and r.json()["status"] == "ERROR"
        )
        r = await http.get("/v2/aggs/ticker/AAPL/prev")
        assert r.status_code == 401
        auth = {"Authorization": f"Bearer {sim.api_key}"}
        now = (await http.get("/v1/marketstatus/now", headers=auth)).json()
        clock = (await http.get("/_sim/clock")).json()
        assert now["market"] == "open" and now["serverTime"].startswith(f"{DAY}T09:3")
        assert abs(clock["sim_ms"] - (sim.model.midnight_ms + 34_260_000)) < 30_000
        snap = (
            await http.get(
                "/v2/snapshot/locale/us/markets/stocks/tickers",
                headers=auth,
                params={"tickers": "AAPL,SPY"},
            )
        ).json()
        assert snap["status"] == "OK" and [t["ticker"] for t in snap["tickers"]] == [
            "AAPL",
            "SPY",
        ]
        assert snap["tickers"][0]["day"]["v"] > 0 and snap["tickers"][0]["prevDay"]["c"] > 0
        statuses = [
            (await http.get("/v1/marketstatus/upcoming", headers=auth)).status_code
            for _ in range(6)
        ]
        assert 429 in statuses
        assert (await http.get("/v2/nothing/here", headers=auth)).status_code == 404
        assert (await http.get("/readyz")).status_code == 200


def test_intraday_profile_is_u_shaped_with_an_opening_burst() -> None:
    from stampede.sim.profile import second_weights

    w = second_weights()
    open_s, noon, before_close = 34_200, 43_200, 57_300
    assert w[open_s] > 10 * w[noon] and w[before_close] > 2 * w[noon]
    assert w[open_s - 600] < w[noon] and np.isclose(w.sum(), 1.0)


def test_runners_get_halted_and_resumed_with_no_trades_between() -> None:
    day = date.fromisoformat(DAY)
    universe = build_universe(1, 400)
    model = MarketModel(universe, build_history(universe, day, 3, 1), day, 1)
    model.fast_forward(34_200)
    halted: dict[int, int] = {}
    cycles = []
    for s in range(34_200, 34_200 + 3600):
        out = model.step(s)
        luld = (
            list(zip(out.luld.sym.tolist(), out.luld.cols["i"].tolist(), out.luld.time.tolist()))
            if out.luld
            else []
        )
        for sym, code, _ in luld:  # a resume comes first in its second
            if code == 18:
                cycles.append((sym, s - halted.pop(sym)))
        if out.trades is not None:
            assert not set(out.trades.sym.tolist()) & set(halted), "a halted ticker printed a trade"
        for sym, code, t in luld:  # a halt comes after the second's trades
            if code == 17:
                assert t >= out.trades.time[out.trades.sym == sym].max()
                halted[sym] = s
    assert cycles and all(abs(length - 300) <= 1 for _, length in cycles)
    assert all(universe.tape[sym] == 3 for sym, _ in cycles)  # LULD halt indicators: Nasdaq-listed
