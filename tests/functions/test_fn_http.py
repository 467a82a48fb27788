"""The functions over real HTTP (uvicorn on a free port) writing a real Redis."""

from __future__ import annotations

import asyncio
import json
from datetime import UTC, datetime, timedelta

import pytest
import redis.asyncio as aioredis

from stampede import keys
from stampede.market import Channel
from stampede.tools.localstack import redis_server
from support.functions import (
    DAY,
    at,
    bar,
    binary,
    cloudevent,
    luld,
    seed_reference,
    serve_function,
    structured,
    trade,
)

D = DAY.isoformat()


def metric(text: str, sample: str) -> float:
    """The value of one sample line (``name{labels}``) of a Prometheus text page, 0 if absent."""
    for line in text.splitlines():
        if line.startswith(sample + " "):
            return float(line.rsplit(" ", 1)[1])
    return 0.0


async def board(redis: aioredis.Redis, name: str) -> list[tuple[str, float]]:
    return await redis.zrange(keys.board(D, name), 0, -1, withscores=True)


async def test_binary_structured_and_batched_modes_apply(function_server, http, redis) -> None:
    await seed_reference(redis, {"AAA": 10.0, "BBB": 20.0, "CCC": 5.0})
    async with function_server("movers") as url:
        h, b = binary(cloudevent(Channel.AGGREGATE, [bar("AAA", "10:00:00", 11.0, 1000, op=10.5)]))
        answer = await http.post(url, headers=h, content=b)
        assert answer.status_code == 200 and answer.json()["status"] == "applied"

        h, b = structured(
            cloudevent(Channel.AGGREGATE, [bar("BBB", "10:00:00", 18.0, 2000, op=19)])
        )
        assert h["content-type"] == "application/cloudevents+json"
        answer = await http.post(url, headers=h, content=b)
        assert answer.status_code == 200 and answer.json()["status"] == "applied"

        batch = [
            json.loads(
                structured(cloudevent(Channel.AGGREGATE, [bar(s, "10:00:01", 6.0, 10, op=5)]))[1]
            )
            for s in ("CCC",)
        ]
        batch.append(
            json.loads(
                structured(
                    cloudevent(Channel.AGGREGATE, [bar("AAA", "10:00:01", 12.0, 1100, op=10.5)])
                )[1]
            )
        )
        answer = await http.post(
            url,
            headers={"content-type": "application/cloudevents-batch+json"},
            content=json.dumps(batch),
        )
        assert answer.status_code == 200
        assert [r["status"] for r in answer.json()["results"]] == ["applied", "applied"]

    assert await board(redis, "gainers") == [("BBB", -10.0), ("AAA", 20.0), ("CCC", 20.0)]
    assert await board(redis, "losers") == await board(redis, "gainers")
    assert await board(redis, "volume") == [("CCC", 10.0), ("AAA", 1100.0), ("BBB", 2000.0)]
    row = await redis.hgetall(keys.row(D, "AAA"))
    assert row["last"] == "12" and row["change_pct"] == "20" and row["has_reference"] == "1"
    assert row["updated_ms"] == str(at("10:00:01"))


async def test_bad_events_get_400_and_are_never_applied(function_server, http, redis) -> None:
    invalid = 'stampede_function_dropped_total{function="movers",reason="invalid"}'
    async with function_server("movers", function_max_body_bytes=10_000) as url:
        before = metric((await http.get(url + "/metrics")).text, invalid)
        wrong_type = binary(cloudevent(Channel.TRADE, [trade("AAA", at("10:00:00"), 1.0)]))
        answer = await http.post(url, headers=wrong_type[0], content=wrong_type[1])
        assert answer.status_code == 400 and "does not handle type" in answer.json()["message"]

        h, _ = binary(cloudevent(Channel.AGGREGATE, []))
        answer = await http.post(url, headers=h, content=b'[{"ev":"A","sym":"AAA","c":"cheap"}]')
        assert answer.status_code == 400 and answer.json()["error"] == "invalid"

        answer = await http.post(url, headers={"content-type": "application/json"}, content=b"[]")
        assert answer.status_code == 400 and "not a CloudEvent" in answer.json()["message"]

        h.pop("ce-source")
        answer = await http.post(url, headers=h, content=b"[]")
        assert answer.status_code == 400 and "source" in answer.json()["message"]

        big = binary(cloudevent(Channel.AGGREGATE, [bar("AAA", "10:00:00", 1.0, 1)] * 200))
        answer = await http.post(url, headers=big[0], content=big[1])
        assert answer.status_code == 413

        after = metric((await http.get(url + "/metrics")).text, invalid)
        assert after - before == 4
    assert await redis.keys(keys.row(D, "*")) == []


async def test_stale_events_are_dropped_and_counted(function_server, http, redis) -> None:
    stale = 'stampede_function_dropped_total{function="movers",reason="stale"}'
    async with function_server("movers", function_max_event_age_seconds=5) as url:
        before = metric((await http.get(url + "/metrics")).text, stale)
        old = datetime.now(UTC) - timedelta(seconds=30)
        h, b = binary(cloudevent(Channel.AGGREGATE, [bar("AAA", "10:00:00", 11.0, 5)], time_=old))
        answer = await http.post(url, headers=h, content=b)
        assert answer.status_code == 200 and answer.json()["status"] == "stale"
        assert answer.json()["age_seconds"] >= 29
        assert metric((await http.get(url + "/metrics")).text, stale) - before == 1
    assert await redis.exists(keys.row(D, "AAA")) == 0


async def test_duplicate_delivery_counts_once(function_server, http, redis) -> None:
    t0 = at("10:00:00")
    trades = [trade("AAA", t0 + i * 100, 10.0 + i / 100, s=100, q=i) for i in range(10)]
    event = cloudevent(Channel.TRADE, trades, event_id="dup-1")
    async with function_server("momentum") as url:
        for _ in range(3):
            answer = await http.post(url, headers=binary(event)[0], content=binary(event)[1])
            assert answer.status_code == 200
        assert answer.json()["status"] == "duplicate"
    row = await redis.hgetall(keys.row(D, "AAA"))
    assert row["trades_per_sec"] == "2"  # 10 trades in the last 5 seconds, not 30
    assert float(row["dollar_volume_1m"]) == pytest.approx(sum(t.p * t.s for t in trades))


async def test_changes_are_published_once_per_applied_batch(function_server, http, redis) -> None:
    pubsub = redis.pubsub()
    await pubsub.subscribe(keys.CHANGES_CHANNEL)
    await pubsub.get_message(timeout=1)  # the subscribe confirmation
    event = cloudevent(Channel.LULD, [luld("AAA", at("10:00:00"), 11, 9, i=[17])])
    async with function_server("halts") as url:
        for _ in range(2):
            await http.post(url, headers=binary(event)[0], content=binary(event)[1])
    message = await pubsub.get_message(timeout=2)
    body = json.loads(message["data"])
    # a band write may move the symbol on near_luld (rows.lua decides): named as touched
    assert body["day"] == D and body["boards"] == ["halts", "near_luld"]
    assert body["exchange_ms"] == at("10:00:00")
    assert abs(body["received_ms"] - event.get_time().timestamp() * 1000) < 1
    assert await pubsub.get_message(timeout=0.5) is None  # the duplicate published nothing
    await pubsub.aclose()
    assert await board(redis, "halts") == [("AAA", float(at("10:00:00")))]
    assert (await redis.hgetall(keys.row(D, "AAA")))["halted"] == "1"


async def test_redis_down_answers_503_then_recovers(tmp_path, http) -> None:
    server = redis_server(tmp_path).start()
    try:
        async with serve_function("movers", server.url) as url:
            assert (await http.get(url + "/readyz")).status_code == 200
            server.stop()
            h, b = binary(cloudevent(Channel.AGGREGATE, [bar("AAA", "10:00:00", 11.0, 5)]))
            answer = await http.post(url, headers=h, content=b)
            assert answer.status_code == 503 and answer.json()["error"] == "redis_unavailable"
            assert (await http.get(url + "/readyz")).status_code == 503
            server.start()
            for _ in range(50):
                answer = await http.post(url, headers=h, content=b)
                if answer.status_code == 200:
                    break
                await asyncio.sleep(0.1)
            assert answer.json()["status"] == "applied"
            assert (await http.get(url + "/readyz")).status_code == 200
            client = aioredis.from_url(server.url, decode_responses=True)
            assert (await client.hgetall(keys.row(D, "AAA")))["volume"] == "5"
            await client.aclose()
    finally:
        server.stop()


async def test_metrics_and_health(function_server, http) -> None:
    async with function_server("halts") as url:
        assert (await http.get(url + "/healthz")).json() == {"status": "ok"}
        assert (await http.get(url + "/")).json()["event_types"] == ["dev.stampede.stocks.luld.v1"]
        h, b = binary(cloudevent(Channel.LULD, [luld("AAA", at("10:00:00"), 11, 9)]))
        await http.post(url, headers=h, content=b)
        text = (await http.get(url + "/metrics")).text
    for needle in (
        (
            'http_server_request_duration_seconds_count{http_request_method="POST",'
            'http_response_status_code="200",http_route="/"}'
        ),
        'stampede_pipeline_latency_seconds_count{stage="board_write"}',
        'stampede_exchange_latency_seconds_count{stage="board_write"}',
        'stampede_function_redis_apply_duration_seconds_count{function="halts"}',
        'stampede_function_events_applied_total{function="halts"}',
    ):
        assert needle in text, needle
