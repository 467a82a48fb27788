"""With ``REDIS_SHARDS`` > 1 the gateway serves each board merged from every symbol shard.

The rows and board entries are written under each symbol's shard hash tag, as the functions
write them; a gateway that read one shard only would serve a part of the board as the whole.
"""

from __future__ import annotations

import httpx
import redis.asyncio as aioredis

from stampede import keys
from stampede.gateway.store import BoardReader
from support.gateway import DAY, row_fields, running_gateway

SHARDS = 3
SYMBOLS = [f"M{i:02d}" for i in range(40)]


async def _write_sharded(redis: aioredis.Redis) -> dict[str, float]:
    """Every symbol's row and volume/losers entries in its own shard; returns change_pct."""
    change: dict[str, float] = {}
    pipe = redis.pipeline(transaction=False)
    for i, sym in enumerate(SYMBOLS):
        shard = keys.shard_of(sym, SHARDS)
        fields = row_fields(sym, 10 + (i % 7) - 3, 10, 1000 * (i + 1), 1)
        change[sym] = float(fields["change_pct"])
        pipe.hset(keys.row(DAY, sym, SHARDS), mapping=fields)
        pipe.zadd(keys.board(DAY, "volume", shard), {sym: 1000 * (i + 1)})
        pipe.zadd(keys.board(DAY, "losers", shard), {sym: change[sym]})
    await pipe.execute()
    return change


async def test_boards_are_merged_from_every_shard(redis_url: str) -> None:
    redis = aioredis.from_url(redis_url, decode_responses=True)
    try:
        change = await _write_sharded(redis)
        assert {keys.shard_of(sym, SHARDS) for sym in SYMBOLS} == set(range(SHARDS))
        read = await BoardReader(redis, SHARDS).read(DAY, {"volume": 12, "losers": 12})
    finally:
        await redis.aclose()
    volume = [row["sym"] for row in read.boards["volume"]]
    assert volume == SYMBOLS[::-1][:12]  # volume 1000*(i+1): the last symbols lead
    assert {keys.shard_of(sym, SHARDS) for sym in volume} == set(range(SHARDS))
    losers = [row["change_pct"] for row in read.boards["losers"]]
    assert losers == sorted(change.values())[:12]  # ascending board, merged in its own order
    assert read.round_trips >= SHARDS  # one script call (at least) per shard


async def test_gateway_serves_the_merged_board_over_rest(redis_url: str) -> None:
    redis = aioredis.from_url(redis_url, decode_responses=True)
    try:
        await _write_sharded(redis)
    finally:
        await redis.aclose()
    async with (
        running_gateway(redis_url, redis_shards=SHARDS) as gw,
        httpx.AsyncClient(base_url=gw.url) as http,
    ):
        answer = await http.get("/api/boards/volume", params={"limit": 10})
    assert answer.status_code == 200, answer.text
    assert [row["sym"] for row in answer.json()["rows"]] == SYMBOLS[::-1][:10]
