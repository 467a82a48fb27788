"""Board reads against a real Redis that is being written meanwhile: every read is one moment.

The writer changes rows and ranks in transactions (as the functions' scripts do) while the
reader reads; a read whose rows were newer than its ranks would be out of its metric's order,
and a symbol would show two rows on two boards.
"""

from __future__ import annotations

import asyncio

import pytest
import redis.asyncio as aioredis

from stampede import keys
from stampede.gateway import metrics
from stampede.gateway.store import (
    CANDIDATE_READS,
    KEEP_READS,
    LOOKAHEAD,
    WIDENING,
    BoardReader,
    MissedRows,
)
from support.gateway import DAY, Market, disagreeing, row_fields, unsorted

BOARDS = ("gainers", "volume", "losers")


@pytest.fixture
async def redis(redis_url):
    client = aioredis.from_url(redis_url, decode_responses=True)
    yield client
    await client.aclose()


async def test_reads_during_writes_are_sorted_and_agree_across_boards(redis, redis_url):
    market = Market(aioredis.from_url(redis_url), symbols=120)
    await market.step(boards=BOARDS, changes=120, removes=0)
    reader = BoardReader(redis)
    stop = asyncio.Event()

    async def write() -> int:
        steps = 0
        while not stop.is_set():
            await market.step(boards=BOARDS, changes=40, removes=2)
            steps += 1
        return steps

    writers = [asyncio.create_task(write()) for _ in range(3)]
    reads, missed, problems = 0, 0, []
    try:
        for _ in range(300):
            try:
                read = await reader.read(DAY, {"gainers": 30, "volume": 30, "losers": 30})
            except MissedRows:  # three writers outran five widening calls: the ticker reads
                missed += 1  # again, as here (a CI run on a busy machine saw it once in 300)
                continue
            reads += 1
            for board, rows in read.boards.items():
                assert len(rows) == 30
                problems += unsorted(board, rows)
            problems += disagreeing(read.boards)
    finally:
        stop.set()
        steps = sum(await asyncio.gather(*writers))
        await market.redis.aclose()
    assert steps > 100, "the writers barely wrote: the test proves nothing"
    assert reads >= 270, f"{missed} of 300 reads gave up: the reads do not follow the writes"
    assert problems == [], problems[:5]


async def test_a_symbol_jumping_from_far_below_is_read_on_a_second_call(redis):
    pipe = redis.pipeline(transaction=True)
    for i in range(100):
        sym = f"J{i:03d}"
        pipe.hset(keys.row(DAY, sym), mapping=row_fields(sym, 10 + i / 100, 10, 1000 + i, 1))
        pipe.zadd(keys.board(DAY, "volume"), {sym: 1000 + i})
    await pipe.execute()
    reader = BoardReader(redis)
    first = await reader.read(DAY, {"volume": 5})
    assert [r["sym"] for r in first.boards["volume"]] == [f"J{i:03d}" for i in (99, 98, 97, 96, 95)]
    assert first.round_trips == 2  # nothing known yet: the first call learns who is on top

    # J010 was far below the rows read ahead; now it tops the board with a new row
    assert 100 - 5 - LOOKAHEAD > 10
    await redis.hset(keys.row(DAY, "J010"), mapping=row_fields("J010", 50, 10, 9_999_999, 2))
    await redis.zadd(keys.board(DAY, "volume"), {"J010": 9_999_999})
    retries = metrics.READ_RETRIES._value.get()
    second = await reader.read(DAY, {"volume": 5})
    assert second.round_trips == 2 and metrics.READ_RETRIES._value.get() == retries + 1
    top = second.boards["volume"][0]
    assert top["sym"] == "J010" and top["volume"] == 9_999_999 and top["last"] == 50

    # a member within the rows read ahead costs no retry
    await redis.zadd(keys.board(DAY, "volume"), {"J092": 99_999_999})
    third = await reader.read(DAY, {"volume": 5})
    assert third.round_trips == 1 and third.boards["volume"][0]["sym"] == "J092"
    assert third.commands == 1 + 5  # one board, five rows


async def test_an_unchanged_row_is_not_decoded_again(redis):
    await redis.hset(keys.row(DAY, "AAA"), mapping=row_fields("AAA", 2, 1, 10, 1))
    await redis.zadd(keys.board(DAY, "gainers"), {"AAA": 100})
    reader = BoardReader(redis)
    first = (await reader.read(DAY, {"gainers": 3})).boards["gainers"][0]
    again = (await reader.read(DAY, {"gainers": 3})).boards["gainers"][0]
    assert again is first  # the same decoded row, so the diff finds nothing to send
    await redis.hset(keys.row(DAY, "AAA"), "volume", "11")
    changed = (await reader.read(DAY, {"gainers": 3})).boards["gainers"][0]
    assert changed["volume"] == 11 and first["volume"] == 10


async def test_a_read_carries_recent_members_not_every_symbol_it_has_seen(redis):
    # Over a day most of the universe passes through some board; a read must stay as big as
    # what the boards showed lately, not grow with every symbol that was ever on top.
    reader = BoardReader(redis)
    sizes = []
    for step in range(3 * KEEP_READS):
        pipe = redis.pipeline(transaction=True)
        for i in range(10):  # ten new symbols take the top each step
            sym = f"S{step:03d}{i}"
            pipe.hset(keys.row(DAY, sym), mapping=row_fields(sym, 10, 1, 1000 * step + i, 1))
            pipe.zadd(keys.board(DAY, "volume"), {sym: 1000 * step + i})
        await pipe.execute()
        read = await reader.read(DAY, {"volume": 5})
        top = [r["volume"] for r in read.boards["volume"]]
        assert top == [1000 * step + i for i in range(9, 4, -1)]
        sizes.append(read.row_keys)
    # 3,000 symbols were on top; a read carries the members of its last CANDIDATE_READS reads
    # (each the depth plus a lookahead, widened once where the read had to retry)
    assert max(sizes) <= CANDIDATE_READS * (5 + LOOKAHEAD * WIDENING), max(sizes)
    # decoded rows are kept for the last KEEP_READS reads at most (ten new a read)
    bound = (KEEP_READS + 16) * 10 + 5 + LOOKAHEAD * WIDENING
    assert len(reader._rows) <= bound < 3000, (len(reader._rows), bound)
