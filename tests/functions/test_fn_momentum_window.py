"""The momentum script's packed state kept batch after batch (sums and prices carried from second
to second, late trades, pruning) gives exactly what one call over all trades so far gives."""

from __future__ import annotations

import random
import uuid

import pytest
import redis.asyncio as aioredis

from stampede import keys
from stampede.functions.commit import Part
from stampede.functions.momentum.scoring import reduce_trades
from stampede.functions.momentum.window import (
    COUNT,
    MINUTE,
    PRICE,
    SymbolState,
    Window,
    decode_state,
    state_keys,
)
from stampede.functions.settings import FunctionSettings
from support.functions import DAY, at, trade

D = DAY.isoformat()
SYMBOLS = ("AAA", "BBB")
FIELDS = ("trades_per_sec", "dollar_volume_1m", "change_1m_pct", "change_5m_pct")


def batches(seed: int = 3, seconds: int = 420, step: int = 2) -> list[list]:
    """Small trade batches every ``step`` seconds: several per second, late ones (into the tape
    window, the last minute and before the 1- and 5-minute marks), odd lots, quiet gaps."""
    rng = random.Random(seed)
    start, q, out = at("10:00:00"), 0, []
    for second in range(0, seconds, step):
        if 200 <= second < 260:
            continue  # a quiet minute: prices come from earlier closes
        for _ in range(3):
            trades = []
            for _ in range(rng.randint(1, 3)):
                q += 1
                late = rng.choice([0, 0, 0, 0, 1, 4, 5, 30, 59, 60, 61, 299, 300, 301])
                t = start + max(0, second - late) * 1000 + rng.choice([0, 500, 999])
                trades.append(
                    trade(
                        rng.choice(SYMBOLS),
                        t,
                        round(rng.uniform(9, 11), 2),
                        rng.choice([100, 50, 300]),
                        rng.choice([[], [], [37]]),
                        q=q,
                    )
                )
            out.append(trades)
    return out


async def apply(window: Window, trades: list) -> None:
    parts = [Part(uuid.uuid4().hex, trades, max(t.t for t in trades), 0)]
    await window.apply(0, parts, reduce_trades(trades))


def state_lists(state: SymbolState) -> tuple[list, list, list]:
    return state.counts, state.prices, state.minutes


async def rows(redis: aioredis.Redis) -> dict:
    return {s: await redis.hmget(keys.row(D, s), list(FIELDS)) for s in SYMBOLS}


@pytest.mark.parametrize(
    ("seconds", "step", "every"),
    [(420, 2, 3), (1800, 3, 40)],
    ids=["7 minutes, compared often", "30 minutes, the lists pruned and rewritten"],
)
async def test_kept_window_state_equals_a_recompute_from_buckets(
    redis_url: str, seconds: int, step: int, every: int
) -> None:
    incremental = aioredis.Redis.from_url(redis_url)
    fresh = aioredis.Redis.from_url(redis_url.rsplit("/", 1)[0] + "/15")
    applied: list = []
    try:
        settings = FunctionSettings(function_momentum_stale_seconds=3600)
        window, reference = Window(incremental, settings), Window(fresh, settings)
        for k, batch in enumerate(batches(seconds=seconds, step=step)):
            applied += batch
            await apply(window, batch)
            if k % every:
                continue
            await fresh.flushdb()
            await apply(reference, applied)  # one call: no kept state
            assert await rows(incremental) == await rows(fresh), f"after batch {k}"
        assert all(v is not None for r in (await rows(incremental)).values() for v in r)
        for sym in SYMBOLS:  # dead records never outgrow the live ones for long
            header, *lists = state_keys(D, sym, 0)
            state = decode_state(await incremental.mget(header, *lists))
            for key, live, record in zip(lists, state_lists(state), (COUNT, PRICE, MINUTE)):
                assert await incremental.strlen(key) <= (2 * len(live) + 64) * record.size
    finally:
        await fresh.flushdb()
        await incremental.aclose()
        await fresh.aclose()
