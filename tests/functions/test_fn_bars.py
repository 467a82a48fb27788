"""bars: the day's minute bars and halt history for the symbol view (pure + real HTTP/Redis)."""

from __future__ import annotations

import msgspec

from stampede import keys
from stampede.functions.bars.scoring import Bar, bar_writes, halt_writes
from stampede.market import LULD_HALT, LULD_RESUME, Channel, MinuteAggregate
from support.functions import DAY, at, binary, cloudevent, luld

D = DAY.isoformat()


def minute(sym: str, hhmm: str, c: float, v: float = 1000, a: float = 0.0) -> MinuteAggregate:
    start = at(hhmm + ":00")
    return MinuteAggregate(
        sym=sym, v=v, s=start, e=start + 60_000, o=c - 0.1, c=c, h=c + 0.2, l=c - 0.3, vw=c, a=a
    )


def test_a_bar_is_keyed_by_its_minute_and_the_last_of_a_batch_wins():
    writes = bar_writes([minute("AAA", "09:31", 10.0), minute("AAA", "09:31", 10.5, v=1500)])
    assert len(writes) == 1
    (w,) = writes
    assert (w.kind, w.day, w.sym, w.field) == ("bars", D, "AAA", str(at("09:31:00")))
    bar = msgspec.json.decode(w.value, type=Bar)
    assert (bar.c, bar.v, bar.a) == (10.5, 1500, 10.5)  # no day VWAP yet: the minute's stands in


def test_only_halts_and_resumes_are_history():
    events = [
        luld("HALT", at("10:00:00"), 11, 9),  # a band update: not history
        luld("HALT", at("10:01:00"), 11, 9, i=[LULD_HALT], q=2),
        luld("HALT", at("10:06:00"), 11, 9, i=[LULD_RESUME], q=3),
    ]
    writes = halt_writes(events)
    assert [(w.kind, w.field) for w in writes] == [
        ("halts", f"{at('10:01:00')}:2"),
        ("halts", f"{at('10:06:00')}:3"),
    ]
    assert [msgspec.json.decode(w.value) for w in writes] == [[True], [False]]


async def test_bars_and_halts_land_in_redis_corrections_replace_duplicates_change_nothing(
    function_server, http, redis
):
    async with function_server("bars") as url:
        first = cloudevent(
            Channel.MINUTE_AGGREGATE, [minute("AAA", "09:30", 10.0), minute("BBB", "09:30", 5.0)]
        )
        for _ in range(2):  # a redelivery writes the same bytes again
            h, b = binary(first)
            answer = await http.post(url, headers=h, content=b)
            assert answer.status_code == 200 and answer.json()["status"] == "applied"
        h, b = binary(cloudevent(Channel.MINUTE_AGGREGATE, [minute("AAA", "09:31", 10.4)]))
        assert (await http.post(url, headers=h, content=b)).status_code == 200
        stored = await redis.hgetall(keys.bars(D, "AAA"))
        assert sorted(stored) == [str(at("09:30:00")), str(at("09:31:00"))]
        # Massive re-sends the 09:30 bar after late trades: it replaces the first one
        h, b = binary(cloudevent(Channel.MINUTE_AGGREGATE, [minute("AAA", "09:30", 10.2, v=1800)]))
        assert (await http.post(url, headers=h, content=b)).status_code == 200
        corrected = msgspec.json.decode(
            await redis.hget(keys.bars(D, "AAA"), str(at("09:30:00"))), type=Bar
        )
        assert (corrected.c, corrected.v) == (10.2, 1800)
        assert await redis.hlen(keys.bars(D, "AAA")) == 2
        assert 0 < await redis.ttl(keys.bars(D, "AAA")) <= keys.DAY_TTL_SECONDS

        h, b = binary(
            cloudevent(Channel.LULD, [luld("AAA", at("10:00:00"), 11, 9, i=[LULD_HALT], q=1)])
        )
        assert (await http.post(url, headers=h, content=b)).json()["status"] == "applied"
        h, b = binary(cloudevent(Channel.LULD, [luld("AAA", at("10:00:05"), 11, 9, q=2)]))
        assert (await http.post(url, headers=h, content=b)).json()["status"] == "ignored"
        assert await redis.hgetall(keys.halt_history(D, "AAA")) == {f"{at('10:00:00')}:1": "[true]"}

        # bad input: 400, and nothing written
        h, b = binary(cloudevent(Channel.MINUTE_AGGREGATE, []))
        answer = await http.post(url, headers=h, content=b'[{"ev": "AM", "sym": 1}]')
        assert answer.status_code == 400
        h, b = binary(cloudevent(Channel.TRADE, []))
        assert (await http.post(url, headers=h, content=b)).status_code == 400


async def test_with_several_redis_shards_bars_live_in_their_symbols_shard(
    function_server, http, redis
):
    async with function_server("bars", redis_shards=4) as url:
        h, b = binary(cloudevent(Channel.MINUTE_AGGREGATE, [minute("AAA", "09:30", 10.0)]))
        assert (await http.post(url, headers=h, content=b)).status_code == 200
    key = keys.bars(D, "AAA", 4)
    assert keys.shard_of("AAA", 4) != 0 and f"{{s{keys.shard_of('AAA', 4)}}}" in key
    assert await redis.hlen(key) == 1 and not await redis.exists(keys.bars(D, "AAA"))
