"""REST for the symbol view: row, halt history and minute bars, written as the bars function does."""

from __future__ import annotations

import httpx
import redis.asyncio as aioredis

from stampede import keys
from stampede.functions.bars.scoring import bar_writes, halt_writes
from stampede.market import LULD_HALT, LULD_RESUME, Luld, MinuteAggregate
from support.gateway import DAY, row_fields, running_gateway

START = 1_741_959_000_000  # 2025-03-14 09:30 ET


def minute(i: int, c: float) -> MinuteAggregate:
    s = START + i * 60_000
    return MinuteAggregate(
        sym="ABC", v=100 + i, s=s, e=s + 60_000, o=c, c=c + 0.5, h=c + 1, l=c - 1, vw=c, a=c
    )


async def store(redis: aioredis.Redis, writes) -> None:
    for w in writes:
        key = keys.bars(w.day, w.sym) if w.kind == "bars" else keys.halt_history(w.day, w.sym)
        await redis.hset(key, w.field, w.value)


async def test_symbol_row_halts_and_bars(redis_url):
    redis = aioredis.from_url(redis_url)
    await redis.hset(
        keys.row(DAY, "ABC"),
        mapping=row_fields("ABC", 12.5, 10, 40_000, START, premarket_high=12.9, luld_upper=13.1),
    )
    await redis.zadd(keys.board(DAY, "gainers"), {"ABC": 25.0})  # the gateway's day is DAY
    await store(redis, bar_writes([minute(i, 10 + i) for i in (2, 0, 1)]))
    await store(
        redis,
        halt_writes(
            [
                Luld(T="ABC", h=13, l=11, t=START + 300_000, i=[LULD_RESUME], q=4),
                Luld(T="ABC", h=13, l=11, t=START, i=[LULD_HALT], q=3),
            ]
        ),
    )
    await redis.hset(keys.bars(DAY, "ABC"), "garbage", "{")
    async with (
        running_gateway(redis_url) as gw,
        httpx.AsyncClient(base_url=gw.url) as http,
    ):
        info = (await http.get("/api/symbols/abc")).json()
        assert info["sym"] == "ABC" and info["day"] == DAY
        assert info["row"]["premarket_high"] == 12.9 and info["row"]["luld_upper"] == 13.1
        assert info["halts"] == [
            {"t": START, "halted": True},
            {"t": START + 300_000, "halted": False},
        ]
        bars = (await http.get("/api/symbols/ABC/bars")).json()
        assert [b["t"] for b in bars["bars"]] == [START, START + 60_000, START + 120_000]
        assert bars["bars"][1] == {
            "t": START + 60_000,
            "o": 11,
            "h": 12,
            "l": 10,
            "c": 11.5,
            "v": 101,
            "vw": 11,
            "a": 11,
        }
        assert bars["utc_offset_s"] == -4 * 3600  # 2025-03-14 is daylight time
        later = (await http.get("/api/symbols/ABC/bars", params={"since": START + 60_000})).json()
        assert [b["t"] for b in later["bars"]] == [START + 60_000, START + 120_000]
        assert (await http.get("/api/symbols/NONE/bars")).json()["bars"] == []
        missing = await http.get("/api/symbols/NONE")
        assert missing.status_code == 404 and missing.json()["code"] == "unknown_symbol"
        bad = await http.get("/api/symbols/%3Cimg%3E")
        assert bad.status_code == 422 and bad.json()["code"] == "bad_request"
    await redis.aclose()
