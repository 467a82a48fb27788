"""Momentum over HTTP: window metrics from the merged per-second buckets in Redis."""

from __future__ import annotations

import pytest

from stampede import keys
from stampede.market import Channel
from support.functions import DAY, at, binary, cloudevent, trade

D = DAY.isoformat()


async def post(http, url, trades) -> dict:
    headers, body = binary(cloudevent(Channel.TRADE, trades))
    answer = await http.post(url, headers=headers, content=body)
    assert answer.status_code == 200, answer.text
    return answer.json()


async def test_window_metrics_high_of_day_and_stale_symbols(function_server, http, redis) -> None:
    t0 = at("09:40:00")
    async with function_server("momentum", function_max_event_age_seconds=0) as url:
        await post(http, url, [trade("AAA", at("09:00:00"), 12.0, q=1)])  # pre-market high
        # One trade every 10 s from 09:40:00 to 09:45:50 at 10.00, 10.10, ...
        await post(
            http,
            url,
            [
                trade("AAA", t0 + i * 10_000, round(10 + i * 0.1, 2), 100, q=10 + i)
                for i in range(36)
            ],
        )
        # Split across two batches on purpose: the window merges them.
        await post(
            http,
            url,
            [
                trade("AAA", t0 + 357_000, 14.0, 200, q=100),
                trade("AAA", t0 + 358_000, 99.0, 5, c=[37], q=101),
            ],
        )  # odd lot
        await post(http, url, [trade("AAA", t0 + 359_000, 14.2, 100, q=102)])
        row = await redis.hgetall(keys.row(D, "AAA"))
        # As of 09:45:59 (newest trade). 1 minute ago = 09:44:59 -> last price at/before it is
        # the 09:44:50 print (10 + 29 * 0.1 = 12.9); 5 minutes ago = 09:40:59 -> 10.5 at 09:40:50.
        assert float(row["change_1m_pct"]) == pytest.approx((14.2 - 12.9) / 12.9 * 100, rel=1e-8)
        assert float(row["change_5m_pct"]) == pytest.approx((14.2 - 10.5) / 10.5 * 100, rel=1e-8)
        # Last 5 s (09:45:55-59): 3 eligible trades, the odd lot included.
        assert row["trades_per_sec"] == "0.6"
        # Last 60 s (09:45:00-59): 09:45:00..50 prints (i = 30..35) + the three above.
        dollars = (
            sum((10 + i * 0.1) * 100 for i in range(30, 36)) + 14.0 * 200 + 99 * 5 + 14.2 * 100
        )
        assert float(row["dollar_volume_1m"]) == pytest.approx(dollars)
        assert row["high"] == "14.2" and row["low"] == "10"  # the odd lot at 99 moved nothing
        assert row["hod_time"] == str(t0 + 359_000)
        assert row["premarket_high"] == "12"
        assert (await redis.zscore(keys.board(D, "new_highs"), "AAA")) == t0 + 359_000

        # BBB trades 2 minutes later: AAA has had no trade for > 60 s of feed time and leaves
        # the window boards (but keeps its row and its new-high entry).
        await post(http, url, [trade("BBB", t0 + 480_000, 5.0, q=1)])
    for board in ("momentum_1m", "momentum_5m", "tape_speed", "dollar_volume_1m"):
        assert await redis.zscore(keys.board(D, board), "AAA") is None, board
    assert await redis.zscore(keys.board(D, "tape_speed"), "BBB") == pytest.approx(0.2)
    assert await redis.zscore(keys.board(D, "new_highs"), "AAA") is not None
