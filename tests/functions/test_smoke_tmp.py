from fn_helpers import DAY, at, trade, luld, binary, cloudevent
from stampede.market import Channel
from stampede import keys

async def test_smoke(function_server, http, redis):
    async with function_server("momentum", function_max_event_age_seconds=0) as url:
        t0 = at("09:40:00")
        trades = [trade("AAA", t0 + i * 1000, 10 + i * 0.01, q=i) for i in range(0, 400, 7)]
        trades.append(trade("AAA", t0 + 400_000, 50, c=[37], q=1000))
        h, b = binary(cloudevent(Channel.TRADE, trades))
        r = await http.post(url + "/", headers=h, content=b)
        print(r.status_code, r.text)
        print(await redis.hgetall(keys.row(DAY.isoformat(), "AAA")))
        for n in ("momentum_1m","momentum_5m","tape_speed","dollar_volume_1m","new_highs"):
            print(n, await redis.zrange(keys.board(DAY.isoformat(), n), 0, -1, withscores=True))
    async with function_server("halts", function_max_event_age_seconds=0) as url:
        h, b = binary(cloudevent(Channel.LULD, [luld("AAA", at("09:41:00")*1000, 11, 9), luld("AAA", at("09:42:00")*1000, 11, 9, i=[17])]))
        r = await http.post(url + "/", headers=h, content=b)
        print(r.status_code, r.text)
        print(await redis.hgetall(keys.row(DAY.isoformat(), "AAA")))
    assert 0
