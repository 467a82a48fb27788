"""Group commit over real HTTP: CloudEvents waiting for Redis are applied in one script call,
each still idempotent on its own id (duplicates inside one group and across groups)."""

from __future__ import annotations

import asyncio
import json

import httpx
import redis.asyncio as aioredis

from stampede import keys
from stampede.boards import BOARDS, ROW_FIELDS
from stampede.functions.momentum.window import decode_state, state_keys
from stampede.market import Channel
from support.functions import (
    DAY,
    at,
    bar,
    binary,
    cloudevent,
    luld,
    seed_reference,
    structured,
    trade,
)

D = DAY.isoformat()
BATCHED = {"content-type": "application/cloudevents-batch+json"}
SYMBOLS = [f"S{i:03d}" for i in range(120)]


def bar_events(count: int, per_event: int = 40) -> list:
    """``count`` CloudEvents of per-second bars, each over its own slice of the universe and
    second, so every one of them moves rows and boards."""
    events = []
    for k in range(count):
        bars = [
            bar(sym, f"10:00:{k:02d}", 10 + (i + k) % 7, 1000 * (k + 1) + i, op=10.5)
            for i, sym in enumerate(SYMBOLS[(k * 17) % 80 :][:per_event])
        ]
        events.append(cloudevent(Channel.AGGREGATE, bars))
    return events


def batched(events: list) -> str:
    return json.dumps([json.loads(structured(e)[1]) for e in events])


async def snapshot(redis: aioredis.Redis) -> dict:
    boards = {
        b.name: await redis.zrange(keys.board(D, b.name), 0, -1, withscores=True) for b in BOARDS
    }
    rows = {s: await redis.hmget(keys.row(D, s), list(ROW_FIELDS)) for s in SYMBOLS}
    return {"boards": boards, "rows": rows}


async def post_one(http: httpx.AsyncClient, url: str, event) -> dict:
    headers, body = binary(event)
    answer = await http.post(url, headers=headers, content=body)
    assert answer.status_code == 200, answer.text
    return answer.json()


async def test_a_batched_request_is_one_group_commit(function_server, http, redis) -> None:
    events = bar_events(6)
    await seed_reference(redis, {s: 10.0 for s in SYMBOLS}, {s: 1e5 for s in SYMBOLS})
    async with function_server("movers") as url:
        answer = await http.post(url, headers=BATCHED, content=batched(events))
    assert answer.status_code == 200, answer.text
    results = answer.json()["results"]
    assert [r["status"] for r in results] == ["applied"] * 6
    # the first two fill the shard's two slots; the other four wait and go in one call
    assert sorted(r["group"] for r in results) == [1, 1, 4, 4, 4, 4]
    grouped = await snapshot(redis)
    assert grouped["boards"]["gainers"] and grouped["boards"]["rvol"]

    await redis.flushall()
    await seed_reference(redis, {s: 10.0 for s in SYMBOLS}, {s: 1e5 for s in SYMBOLS})
    async with function_server("movers") as url:
        for event in events:
            assert (await post_one(http, url, event))["group"] == 1
    assert await snapshot(redis) == grouped


async def test_duplicates_inside_a_group_and_across_groups(function_server, http, redis) -> None:
    a, b, c = bar_events(3)
    async with function_server("movers") as url:
        assert (await post_one(http, url, a))["status"] == "applied"
        after_a = await snapshot(redis)
        answer = await http.post(url, headers=BATCHED, content=batched([b, a, b, c]))
        statuses = [r["status"] for r in answer.json()["results"]]
        # a: applied by an earlier group; the second b: its twin in this group
        assert statuses == ["applied", "duplicate", "duplicate", "applied"]
        grouped = await snapshot(redis)
        assert grouped != after_a
        again = await http.post(url, headers=BATCHED, content=batched([c, b, a]))
        assert [r["status"] for r in again.json()["results"]] == ["duplicate"] * 3
    assert await snapshot(redis) == grouped

    await redis.flushall()
    async with function_server("movers") as url:
        for event in (a, b, c):
            await post_one(http, url, event)
    assert await snapshot(redis) == grouped


async def test_concurrent_requests_share_a_commit(function_server, http, redis) -> None:
    events = bar_events(40, per_event=80)
    async with function_server("movers") as url:
        answers = await asyncio.gather(*(post_one(http, url, e) for e in events))
    assert {a["status"] for a in answers} == {"applied"}
    assert max(a["group"] for a in answers) > 1, [a["group"] for a in answers]
    grouped = await snapshot(redis)

    await redis.flushall()
    async with function_server("movers") as url:
        for event in events:
            await post_one(http, url, event)
    assert await snapshot(redis) == grouped


async def test_halts_merged_calls_keep_the_newest_state(function_server, http, redis) -> None:
    t = 1741960800000  # 2025-03-14 10:00:00 ET
    events = [
        cloudevent(Channel.LULD, [luld("AAA", t + 1000, 11, 9, [17], q=2)]),
        cloudevent(Channel.LULD, [luld("AAA", t, 10.5, 9.5, [18], q=1)]),  # older: loses
        cloudevent(Channel.LULD, [luld("BBB", t, 20, 18, q=1)]),
    ]
    async with function_server("halts") as url:
        answer = await http.post(url, headers=BATCHED, content=batched(events))
    assert [r["status"] for r in answer.json()["results"]] == ["applied"] * 3
    row = await redis.hgetall(keys.row(D, "AAA"))
    assert row["halted"] == "1" and row["luld_upper"] == "11"
    assert await redis.zrange(keys.board(D, "halts"), 0, -1) == ["AAA"]


async def test_momentum_counts_each_trade_once(function_server, http, redis_url) -> None:
    t = at("10:00:00")
    a = cloudevent(Channel.TRADE, [trade("AAA", t + i * 100, 10.0, 100, q=i) for i in range(3)])
    b = cloudevent(Channel.TRADE, [trade("AAA", t + 500 + i, 11.0, 10, q=10 + i) for i in range(2)])
    c = cloudevent(Channel.TRADE, [trade("BBB", t, 5.0, 100, q=1)])
    async with function_server("momentum", function_max_event_age_seconds=0) as url:
        assert (await post_one(http, url, a))["status"] == "applied"
        answer = await http.post(url, headers=BATCHED, content=batched([b, a, b, c]))
        assert [r["status"] for r in answer.json()["results"]] == [
            "applied",
            "duplicate",
            "duplicate",
            "applied",
        ]
        again = await http.post(url, headers=BATCHED, content=batched([c, b, a]))
        assert [r["status"] for r in again.json()["results"]] == ["duplicate"] * 3
    raw = aioredis.Redis.from_url(redis_url)
    try:
        state = decode_state(await raw.mget(state_keys(D, "AAA", 0)))
        row = await raw.hgetall(keys.row(D, "AAA"))
    finally:
        await raw.aclose()
    assert state.minutes == [(t // 60_000, 5)] and state.counts == [(t // 1000, 5, 3220_00)]
    assert row[b"dollar_volume_1m"] == b"3220" and row[b"trades_per_sec"] == b"1"


async def test_two_shards_split_rows_boards_and_seen_keys(function_server, http, redis) -> None:
    event = bar_events(1, per_event=40)[0]
    t = at("10:00:00")
    trades = cloudevent(Channel.TRADE, [trade(s, t, 10.0, 100, q=1) for s in SYMBOLS[:40]])
    settings = {"redis_shards": 2, "function_max_event_age_seconds": 0}
    async with (
        function_server("movers", **settings) as movers,
        function_server("momentum", **settings) as momentum,
    ):
        assert (await post_one(http, movers, event))["status"] == "applied"
        assert (await post_one(http, momentum, trades))["status"] == "applied"
        assert (await post_one(http, movers, event))["status"] == "duplicate"
        assert (await post_one(http, momentum, trades))["status"] == "duplicate"
    shard = {s: keys.shard_of(s, 2) for s in SYMBOLS[:40]}
    assert set(shard.values()) == {0, 1}
    for board in ("volume", "tape_speed"):
        members = {n: set(await redis.zrange(keys.board(D, board, n), 0, -1)) for n in (0, 1)}
        assert members[0] | members[1] == set(SYMBOLS[:40])
        assert all(shard[s] == n for n, syms in members.items() for s in syms)
    for s in SYMBOLS[:40]:
        row = await redis.hgetall(keys.row(D, s, 2))
        assert row["volume"] and row["trades_per_sec"] == "0.2", s
    assert len(await redis.keys(keys.seen(D, "*", 0))) == 2  # one per function and shard
    assert len(await redis.keys(keys.seen(D, "*", 1))) == 2
