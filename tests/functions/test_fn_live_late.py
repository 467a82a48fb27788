"""Live before history (issue 26): a live function whose batch reaches the boards late marks the
live feed late in Redis (``sp:live:late``, for a moment), and the background load's probe sees
it; a batch on time, or one of a function whose data does not go stale, marks nothing."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from stampede import keys
from stampede.functions import metrics
from stampede.functions.late import EVERY_S, HOLD_MS, LateProbe
from stampede.market import Channel, MinuteAggregate
from support.functions import at, bar, binary, cloudevent, seed_reference


def request(event) -> dict:
    headers, body = binary(event)
    return {"headers": headers, "content": body}


async def test_a_late_live_batch_marks_the_feed_late_for_a_moment(function_server, http, redis):
    await seed_reference(redis, {"LATE": 10.0}, {"LATE": 1e5})
    on_time = cloudevent(Channel.AGGREGATE, [bar("LATE", "10:00:01", 11.0, 5_000, op=10.5)])
    late = cloudevent(
        Channel.AGGREGATE,
        [bar("LATE", "10:00:02", 11.5, 6_000, op=10.5)],
        time_=datetime.now(UTC) - timedelta(seconds=2),  # read by the bridge 2 s ago
    )
    signals = metrics.LIVE_LATE_SIGNALS.labels("movers")
    before = signals._value.get()  # one registry per process: other tests count too
    async with function_server("movers", function_late_seconds=0.5) as url:
        first = await http.post(url, **request(on_time))
        assert first.json()["status"] == "applied"
        assert not await redis.exists(keys.LIVE_LATE)
        second = await http.post(url, **request(late))
        assert second.json()["status"] == "applied"
        page = (await http.get(url.rstrip("/") + "/metrics")).text
    assert await redis.get(keys.LIVE_LATE) == "movers"
    assert 0 < await redis.pttl(keys.LIVE_LATE) <= HOLD_MS
    assert signals._value.get() == before + 1
    assert 'stampede_function_live_late_signals_total{function="movers"}' in page


async def test_minute_bars_do_not_go_stale_and_mark_nothing(function_server, http, redis):
    start = at("10:00:00")
    old = cloudevent(
        Channel.MINUTE_AGGREGATE,
        [
            MinuteAggregate(
                sym="OLD", v=1e3, s=start, e=start + 60_000, o=10, c=11, h=11, l=10, vw=11
            )
        ],
        time_=datetime.now(UTC) - timedelta(seconds=5),
    )
    async with function_server("bars", function_late_seconds=0.5) as url:
        answer = await http.post(url, **request(old))
    assert answer.status_code == 200, answer.text
    assert not await redis.exists(keys.LIVE_LATE)


async def test_the_probe_reads_the_signal_at_most_every_quarter_second(redis):
    now = [0.0]
    probe = LateProbe(redis, clock=lambda: now[0])
    assert await probe() is False
    await redis.set(keys.LIVE_LATE, "momentum", px=HOLD_MS)
    assert await probe() is False  # asked a moment ago: the cached answer
    now[0] += EVERY_S
    assert await probe() is True
    await redis.delete(keys.LIVE_LATE)
    now[0] += EVERY_S
    assert await probe() is False
