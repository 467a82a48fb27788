"""Two replicas applying interleaved, shuffled, partly redelivered batches (several in flight
at once, so group commits merge them) = one replica applying them one by one in order."""

from __future__ import annotations

import asyncio
import random

import redis.asyncio as aioredis

from stampede import keys
from stampede.boards import BOARDS, ROW_FIELDS
from stampede.market import Aggregate, Channel
from support.functions import DAY, at, binary, cloudevent, seed_reference, trade

D = DAY.isoformat()
SYMBOLS = ("AAA", "BBB", "CCC", "DDD", "EEE")


def market(seed: int = 7) -> list[tuple[str, object]]:
    """(function, CloudEvent) batches: 6 minutes around the open, bars and trades."""
    rng = random.Random(seed)
    price = {s: 10.0 + i for i, s in enumerate(SYMBOLS)}
    volume = {s: 0.0 for s in SYMBOLS}
    batches: list[tuple[str, object]] = []
    start = at("09:27:00")
    q = 0
    for second in range(0, 360, 2):
        bars, trades = [], []
        for sym in rng.sample(SYMBOLS, 3):
            for k in range(rng.randint(1, 4)):
                q += 1
                price[sym] = round(price[sym] * (1 + rng.uniform(-0.01, 0.012)), 2)
                size = rng.choice([100, 200, 50, 1000])
                conditions = rng.choice([[], [], [37], [14], [12]])
                t = start + second * 1000 + k * 150
                trades.append(trade(sym, t, price[sym], size, conditions, q=q))
                volume[sym] += size
            end_ms = start + (second + 1) * 1000
            opened = end_ms > at("09:30:00")
            bars.append(
                Aggregate(
                    sym=sym,
                    v=100,
                    s=end_ms - 1000,
                    e=end_ms,
                    o=price[sym],
                    c=price[sym],
                    h=price[sym],
                    l=price[sym],
                    av=volume[sym],
                    a=price[sym],
                    op=11.0 + SYMBOLS.index(sym) if opened else 0.0,
                )
            )
        batches.append(("movers", cloudevent(Channel.AGGREGATE, bars)))
        batches.append(("momentum", cloudevent(Channel.TRADE, trades)))
    return batches


async def snapshot(redis: aioredis.Redis) -> dict:
    boards = {
        b.name: await redis.zrange(keys.board(D, b.name), 0, -1, withscores=True) for b in BOARDS
    }
    rows = {s: await redis.hmget(keys.row(D, s), list(ROW_FIELDS)) for s in SYMBOLS}
    return {"boards": boards, "rows": rows}


async def post(http, url: str, event) -> None:
    headers, body = binary(event)
    answer = await http.post(url, headers=headers, content=body)
    assert answer.status_code == 200, answer.text


async def test_two_replicas_give_the_same_boards_as_one(function_server, http, redis) -> None:
    batches = market()
    settings = {"function_max_event_age_seconds": 0}

    await seed_reference(
        redis, {s: 10.0 + i for i, s in enumerate(SYMBOLS)}, {s: 1e5 for s in SYMBOLS}
    )
    async with (
        function_server("movers", **settings) as movers,
        function_server("momentum", **settings) as momentum,
    ):
        urls = {"movers": movers, "momentum": momentum}
        for function, event in batches:
            await post(http, urls[function], event)
    one = await snapshot(redis)
    assert one["boards"]["gainers"] and one["boards"]["momentum_1m"] and one["boards"]["rvol"]
    assert one["boards"]["new_highs"] and one["boards"]["from_open"]

    await redis.flushall()
    await seed_reference(
        redis, {s: 10.0 + i for i, s in enumerate(SYMBOLS)}, {s: 1e5 for s in SYMBOLS}
    )
    rng = random.Random(3)
    shuffled = batches + rng.sample(batches, 40)  # some redelivered
    rng.shuffle(shuffled)
    async with (
        function_server("movers", **settings) as m1,
        function_server("movers", **settings) as m2,
        function_server("momentum", **settings) as t1,
        function_server("momentum", **settings) as t2,
    ):
        replicas = {"movers": (m1, m2), "momentum": (t1, t2)}

        async def deliver(share: int) -> None:
            mine = [(f, e) for i, (f, e) in enumerate(shuffled) if i % 2 == share]
            # a few requests in flight per replica, so its group commits merge several
            for k in range(0, len(mine), 6):
                await asyncio.gather(
                    *(post(http, replicas[f][share], e) for f, e in mine[k : k + 6])
                )

        await asyncio.gather(deliver(0), deliver(1))
    assert await snapshot(redis) == one
