"""``redisclient.Script`` on a real Redis: however many calls are in flight when Redis lacks
the script (first use, SCRIPT FLUSH, a restart), it is loaded once and every call answers."""

from __future__ import annotations

import asyncio

import redis.asyncio as aioredis

from stampede.redisclient import Script

CALLS = 50


async def script_loads(redis: aioredis.Redis) -> int:
    stats = await redis.info("commandstats")
    return int(stats.get("cmdstat_script|load", {}).get("calls", 0))


async def test_concurrent_calls_load_the_script_once(redis_url: str) -> None:
    redis = aioredis.from_url(redis_url, decode_responses=True)
    try:
        script = Script(redis, "return redis.call('INCR', KEYS[1]) + tonumber(ARGV[1])")
        await redis.config_resetstat()
        first = await asyncio.gather(*(script(["n"], [1000]) for _ in range(CALLS)))
        assert sorted(first) == list(range(1001, 1001 + CALLS))
        assert await script_loads(redis) == 1
        await redis.script_flush()  # Redis forgot it: every call in flight meets NOSCRIPT
        again = await asyncio.gather(*(script(["n"], [0]) for _ in range(CALLS)))
        assert sorted(again) == list(range(CALLS + 1, 2 * CALLS + 1))
        assert await script_loads(redis) == 2
    finally:
        await redis.aclose()
