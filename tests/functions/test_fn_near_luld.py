"""near_luld over real HTTP: movers (last) and halts (bands) writing one real Redis.

The board needs both halves, which two functions write; whichever arrives second ranks the
symbol, and a move away from the bands (by either) takes it off.
"""

from __future__ import annotations

import json

import httpx
import pytest
import redis.asyncio as aioredis

from stampede import keys
from stampede.market import Channel
from support.functions import DAY, at, bar, binary, cloudevent, luld, seed_reference

D = DAY.isoformat()


async def post(http: httpx.AsyncClient, url: str, channel: Channel, events: list) -> str:
    headers, body = binary(cloudevent(channel, events))
    answer = await http.post(url, headers=headers, content=body)
    assert answer.status_code == 200, answer.text
    return answer.json()["status"]


async def near(redis: aioredis.Redis) -> list[tuple[str, float]]:
    return [
        (sym, round(score, 4))
        for sym, score in await redis.zrange(keys.board(D, "near_luld"), 0, -1, withscores=True)
    ]


@pytest.mark.parametrize("bands_first", [True, False])
async def test_last_within_one_percent_of_a_band_ranks_whoever_writes_second(
    function_server, http, redis, bands_first
) -> None:
    await seed_reference(redis, {"AAA": 10.0, "BBB": 10.0})
    bands = [luld("AAA", at("10:00:00"), 11.0, 9.0), luld("BBB", at("10:00:00"), 11.0, 9.0)]
    prices = [bar("AAA", "10:00:01", 10.95, 1000), bar("BBB", "10:00:01", 9.05, 1000)]
    async with function_server("movers") as movers, function_server("halts") as halts:
        first, second = (
            ((halts, Channel.LULD, bands), (movers, Channel.AGGREGATE, prices))
            if bands_first
            else ((movers, Channel.AGGREGATE, prices), (halts, Channel.LULD, bands))
        )
        assert await post(http, *first) == "applied"
        assert await near(redis) == []  # one half only: nothing to rank on
        assert await post(http, *second) == "applied"
        # AAA 0.05 below the upper band (0.4566 % of 10.95), BBB 0.05 above the lower (0.5525 %)
        assert await near(redis) == [("AAA", 0.4566), ("BBB", 0.5525)]
        row = await redis.hgetall(keys.row(D, "BBB"))
        assert round(float(row["luld_distance_pct"]), 4) == 0.5525

        # AAA's price falls back to the middle (movers): off the board
        await post(http, movers, Channel.AGGREGATE, [bar("AAA", "10:00:02", 10.0, 1100)])
        assert await near(redis) == [("BBB", 0.5525)]
        # BBB's bands widen (halts): off; AAA's upper band comes down to its price: on again
        await post(
            http,
            halts,
            Channel.LULD,
            [luld("BBB", at("10:00:03"), 11.0, 8.0), luld("AAA", at("10:00:03"), 10.05, 9.0)],
        )
        assert await near(redis) == [("AAA", 0.5)]
        # a late band update (older than the stored one) changes nothing
        await post(http, halts, Channel.LULD, [luld("BBB", at("10:00:02"), 9.1, 8.0)])
        assert await near(redis) == [("AAA", 0.5)]
        # a price through the band (limit state) is nearest of all: a negative distance
        await post(http, movers, Channel.AGGREGATE, [bar("BBB", "10:00:04", 7.9, 1200)])
        assert await near(redis) == [("BBB", -1.2658), ("AAA", 0.5)]


async def test_a_price_write_names_near_luld_only_for_a_row_with_bands(
    function_server, http, redis
) -> None:
    """A bar of a symbol without bands is not on near_luld and its change notice says so (the
    gateway need not read the board again); once the symbol has bands, its bars rank it."""
    await seed_reference(redis, {"AAA": 10.0, "BBB": 10.0})
    pubsub = redis.pubsub()
    await pubsub.subscribe(keys.CHANGES_CHANNEL)
    await pubsub.get_message(timeout=1)  # the subscribe confirmation

    async def notice() -> list[str]:
        message = await pubsub.get_message(timeout=2)
        assert message is not None, "no change notice"
        return json.loads(message["data"])["boards"]

    async with function_server("movers") as movers, function_server("halts") as halts:
        await post(http, movers, Channel.AGGREGATE, [bar("AAA", "10:00:01", 10.95, 1000)])
        assert "near_luld" not in await notice()
        assert "luld_distance_pct" not in await redis.hgetall(keys.row(D, "AAA"))
        await post(http, halts, Channel.LULD, [luld("BBB", at("10:00:00"), 11.0, 9.0)])
        assert await notice() == ["near_luld"]  # a band write re-ranks its row (no price yet)
        assert await near(redis) == []
        # one CloudEvent with a banded and an unbanded symbol: BBB ranks, AAA stays off
        bars = [bar("AAA", "10:00:02", 10.96, 1100), bar("BBB", "10:00:02", 9.05, 1000)]
        await post(http, movers, Channel.AGGREGATE, bars)
        assert "near_luld" in await notice()
        assert await near(redis) == [("BBB", 0.5525)]
        await post(http, halts, Channel.LULD, [luld("AAA", at("10:00:03"), 11.0, 9.0)])
        assert await notice() == ["near_luld"]
        assert await near(redis) == [("AAA", 0.365), ("BBB", 0.5525)]  # 0.04 below 11 of 10.96
    await pubsub.aclose()
