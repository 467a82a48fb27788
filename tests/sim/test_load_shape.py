"""Load mode's two shapes (``--rate N --shape uniform|market``), read from the real simulator.

Rates are counted per *exchange* second (trade ``t``, bar ``s``), not per wall second, so the
check is about what the generator emits and holds on a busy machine.
"""

from __future__ import annotations

import asyncio
import json
from collections import Counter

import numpy as np

from stampede.sim.load import LoadCounts, LoadShape, expected_events
from stampede.sim.testing import running_simulator
from stampede.sim.universe import build_universe
from support.sim import open_session

RATE = 5000
TOP = 300


def test_market_trades_give_the_rate_in_events_with_bars() -> None:
    activity = build_universe(7, 8200).daily_trades
    counts = LoadCounts(RATE, activity, LoadShape.MARKET)
    weights = activity / activity.sum()
    assert abs(expected_events(counts.trades, weights) - RATE) < 1
    rng = np.random.default_rng(1)
    events = [int(c.sum() + (c > 0).sum()) for c in (counts.draw(rng) for _ in range(50))]
    assert abs(np.mean(events) - RATE) < 0.01 * RATE
    uniform = LoadCounts(RATE, activity, LoadShape.UNIFORM).draw(rng)
    assert uniform.sum() + (uniform > 0).sum() == RATE


async def _events_by_second(shape: str, wall_seconds: float) -> tuple[Counter, Counter]:
    """Events per exchange second, and trades per symbol, as one wildcard reader gets them."""
    per_second: Counter = Counter()
    trades_by_symbol: Counter = Counter()
    async with running_simulator(start="now", rate=RATE, shape=shape, seed=7) as sim:
        ws = await open_session(sim.ws_url, sim.api_key, "A.*,T.*", max_size=None)
        loop = asyncio.get_running_loop()
        end = loop.time() + wall_seconds
        try:
            while loop.time() < end:
                for item in json.loads(await asyncio.wait_for(ws.recv(), 5)):
                    if item["ev"] == "T":
                        per_second[item["t"] // 1000] += 1
                        trades_by_symbol[item["sym"]] += 1
                    elif item["ev"] == "A":
                        per_second[item["s"] // 1000] += 1
        finally:
            await ws.close()
    return per_second, trades_by_symbol


def _complete(per_second: Counter, agg_delay_s: int = 2) -> list[int]:
    """Counts of the seconds whose trades and (delayed) bars have all arrived."""
    seconds = sorted(per_second)
    return [per_second[s] for s in seconds[1 : -(agg_delay_s + 2)]]


async def _shape(shape: str) -> tuple[list[int], float]:
    """Events of each complete exchange second, and the share of trades in the top names."""
    per_second, by_symbol = await _events_by_second(shape, 7.0)
    full = _complete(per_second)
    assert len(full) >= 2, per_second
    top = sum(n for _, n in by_symbol.most_common(TOP)) / sum(by_symbol.values())
    return full, top


async def test_market_shape_is_heavy_tailed_at_the_asked_rate() -> None:
    full, top_share = await _shape("market")
    assert all(abs(events - RATE) < 0.05 * RATE for events in full), full
    assert top_share > 0.5, top_share  # most trades in a few hundred names


async def test_uniform_shape_spreads_every_visit_over_new_tickers() -> None:
    full, top_share = await _shape("uniform")
    assert all(abs(events - RATE) < 0.02 * RATE for events in full), full
    assert top_share < 0.3, top_share
