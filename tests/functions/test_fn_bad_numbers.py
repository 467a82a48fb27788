"""Market events with absurd numbers (a runaway generator, a corrupt feed) get a clear 400 from
every function, are counted as invalid and never reach scoring or Redis."""

from __future__ import annotations

import json

from test_fn_http import metric

from stampede.market import Channel
from support.functions import DAY, at, bar, binary, cloudevent, structured, trade

D = DAY.isoformat()


async def test_absurd_prices_and_sizes_get_400_naming_the_field(
    function_server, http, redis
) -> None:
    invalid = 'stampede_function_dropped_total{function="momentum",reason="invalid"}'
    async with function_server("momentum") as url:
        before = metric((await http.get(url + "/metrics")).text, invalid)

        h, b = binary(
            cloudevent(
                Channel.TRADE,
                [trade("AAA", at("10:00:00"), 10.0), trade("AAA", at("10:00:01"), 1e30, s=1e15)],
            )
        )
        answer = await http.post(url, headers=h, content=b)
        assert answer.status_code == 400
        assert answer.headers["content-type"] == "application/json"
        body = answer.json()
        assert body["error"] == "invalid" and "$[1].p" in body["message"]

        h, b = binary(cloudevent(Channel.TRADE, [trade("AAA", at("10:00:00"), 10.0, s=1e15)]))
        answer = await http.post(url, headers=h, content=b)
        assert answer.status_code == 400 and "$[0].s" in answer.json()["message"]

        h, b = binary(cloudevent(Channel.TRADE, [trade("AAA", at("10:00:00"), -2.5)]))
        answer = await http.post(url, headers=h, content=b)
        assert answer.status_code == 400 and "$[0].p" in answer.json()["message"]

        after = metric((await http.get(url + "/metrics")).text, invalid)
        assert after - before == 3
    assert await redis.keys(f"sp:{D}:*") == []


async def test_nan_and_infinity_are_rejected_in_every_content_mode(
    function_server, http, redis
) -> None:
    async with function_server("momentum") as url:
        h, _ = binary(cloudevent(Channel.TRADE, []))
        for literal in (b"NaN", b"Infinity", b"-Infinity", b"1e400"):
            raw = b'[{"ev":"T","sym":"AAA","p":%s,"s":100,"t":%d}]' % (literal, at("10:00:00"))
            answer = await http.post(url, headers=h, content=raw)
            assert answer.status_code == 400, literal
            assert answer.json()["error"] == "invalid"

        # Structured mode with the data inline: Python's json module does write NaN / Infinity.
        _, b = structured(cloudevent(Channel.TRADE, []))
        for value in (float("nan"), float("inf")):
            envelope = json.loads(b)
            envelope.pop("data_base64", None)
            envelope["data"] = [
                {"ev": "T", "sym": "AAA", "p": value, "s": 100, "t": at("10:00:00")}
            ]
            answer = await http.post(
                url,
                headers={"content-type": "application/cloudevents+json"},
                content=json.dumps(envelope),
            )
            assert answer.status_code == 400, value
            assert answer.json()["error"] == "invalid" and "$[0].p" in answer.json()["message"]
    assert await redis.keys(f"sp:{D}:*") == []


async def test_bars_with_absurd_volume_get_400(function_server, http, redis) -> None:
    async with function_server("movers") as url:
        h, b = binary(cloudevent(Channel.AGGREGATE, [bar("AAA", "10:00:00", 11.0, av=2e13)]))
        answer = await http.post(url, headers=h, content=b)
        assert answer.status_code == 400 and "$[0].av" in answer.json()["message"]

        h, b = binary(cloudevent(Channel.AGGREGATE, [bar("AAA", "10:00:00", 2e10, av=1000)]))
        answer = await http.post(url, headers=h, content=b)
        assert answer.status_code == 400 and "$[0].o" in answer.json()["message"]
    assert await redis.keys(f"sp:{D}:*") == []
