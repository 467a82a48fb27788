"""Corrected bars from the real simulator through the real movers into a real Redis.

The simulator re-sends a bar with late trades (same window ``s``, more volume, a new close).
Posting what it sent, in order, as the bridge would: once a correction is a symbol's newest
bar, the row and the volume board hold the corrected values; the same correction again (a new
CloudEvent: a re-send or a redelivery under another id) and the superseded original change
nothing; and at the end every board equals the simulator's truth, which follows corrections.
"""

from __future__ import annotations

import httpx
import msgspec
import pytest
import redis.asyncio as aioredis

from stampede import keys
from stampede.boards import BOARDS
from stampede.sim.testing import running_simulator
from support.functions import binary_request, refdata_request
from support.sim import collect_bars

DAY = "2025-03-14"


async def post(http: httpx.AsyncClient, url: str, bars: list[dict]) -> None:
    headers = binary_request("dev.stampede.stocks.aggregate.v1")
    answer = await http.post(url, headers=headers, content=msgspec.json.encode(bars))
    assert answer.status_code == 200, answer.text


async def shown(redis: aioredis.Redis, sym: str) -> tuple[dict, dict]:
    """The symbol's row and every movers board, as a reader sees them."""
    boards = {
        b.name: await redis.zrange(keys.board(DAY, b.name), 0, -1, withscores=True)
        for b in BOARDS
        if b.function == "movers"
    }
    return await redis.hgetall(keys.row(DAY, sym)), boards


async def test_a_corrected_bar_replaces_its_window_and_a_repeat_changes_nothing(
    function_server, http, redis
) -> None:
    async with running_simulator(
        date=DAY, start="10:00:00", speed=2, symbols=60, seed=11, correction_rate=0.2
    ) as sim:
        async with function_server(
            "refdata", massive_rest_url=sim.rest_url, massive_api_key=sim.api_key
        ) as url:
            assert (
                await http.post(url, headers=refdata_request(), content=b"{}")
            ).status_code == 200
        frames = [msgspec.json.decode(f) for f in await collect_bars(sim.ws_url, sim.api_key, 5.0)]
        truth = sim.truth({"limit": "0"})

    first: dict[tuple[str, int], dict] = {}
    corrections = 0
    for frame in frames:
        for b in frame:
            if (b["sym"], b["s"]) in first:
                corrections += 1
            else:
                first[(b["sym"], b["s"])] = b
    assert corrections >= 5, "the simulator should have re-sent some bars"

    checked = 0
    newest: dict[str, dict] = {}
    async with function_server("movers", function_max_event_age_seconds=0) as url:
        for frame in frames:
            await post(http, url, frame)
            for b in frame:
                seen = newest.get(b["sym"])
                if seen is None or (b["e"], b["av"]) >= (seen["e"], seen["av"]):
                    newest[b["sym"]] = b
            for sym, b in newest.items():
                original = first[(sym, b["s"])]
                if b is original or b not in frame:
                    continue  # not a correction that just became the symbol's newest bar
                row, boards = await shown(redis, sym)
                assert float(row["volume"]) == b["av"] and float(row["last"]) == b["c"], sym
                assert dict(boards["volume"])[sym] == b["av"]
                if checked == 0:  # the correction again, and the original it replaced
                    await post(http, url, [b])
                    await post(http, url, [original])
                    assert await shown(redis, sym) == (row, boards)
                checked += 1
    assert checked >= 3

    for board in ("gainers", "losers", "gappers", "volume"):
        ours = dict(await redis.zrange(keys.board(DAY, board), 0, -1, withscores=True))
        expected = {r["sym"]: r["value"] for r in truth["boards"][board]}
        assert ours.keys() == expected.keys(), board
        for sym, value in expected.items():
            assert ours[sym] == pytest.approx(value, rel=1e-9, abs=1e-9), (board, sym)
