"""Against the real simulator: the refdata load over its REST API, and the movers boards
built from the bars it actually sent compared with its ground truth (``/_sim/truth``)."""

from __future__ import annotations

import pytest

from stampede import keys
from stampede.sim.testing import running_simulator
from support.functions import binary_request, refdata_request
from support.sim import collect_bars

DAY = "2025-03-14"


async def test_refdata_loads_from_the_simulator_rest(function_server, http, redis) -> None:
    async with running_simulator(date=DAY, start="09:29:00", speed=1, symbols=40, seed=5) as sim:
        settings = {
            "massive_rest_url": sim.rest_url,
            "massive_api_key": sim.api_key,
            "refdata_sessions": 5,
        }
        async with function_server("refdata", **settings) as url:
            answer = await http.post(url, headers=refdata_request(), content=b"{}")
            assert answer.status_code == 200, answer.text
            body = answer.json()
            assert body["status"] == "applied" and body["day"] == DAY  # the feed's day, not ours
            assert body["sessions"] == 5 and body["symbols"] == 40
            again = await http.post(url, headers=refdata_request(), content=b"{}")
            assert again.json()["status"] == "ignored"
            assert again.json()["reason"] == "already loaded"
            ping = {**refdata_request(), "ce-type": "dev.knative.sources.ping"}
            assert (await http.post(url, headers=ping, content=b"{}")).json()["status"] == "ignored"
            forced = await http.post(
                url, headers=refdata_request(), content=b'{"date": "2025-03-14", "force": true}'
            )
            assert forced.json()["status"] == "applied"
            grouped = (
                await http.get(
                    f"{sim.rest_url}/v2/aggs/grouped/locale/us/market/stocks/2025-03-13",
                    params={"apiKey": sim.api_key},
                )
            ).json()["results"]
        truth = sim.truth({"limit": "0"})

    prev_close = {
        k: float(v) for k, v in (await redis.hgetall(keys.reference(DAY, "prev_close"))).items()
    }
    assert prev_close == {bar["T"]: bar["c"] for bar in grouped}
    for sym, row in truth["symbols"].items():
        assert prev_close[sym] == pytest.approx(row["prev_close"])
    adv = await redis.hgetall(keys.reference(DAY, "adv"))
    assert len(adv) == 40 and all(float(v) > 0 for v in adv.values())
    profile = {
        int(k): float(v) for k, v in (await redis.hgetall(keys.reference(DAY, "profile"))).items()
    }
    ordered = [profile[m] for m in sorted(profile)]
    assert ordered == sorted(ordered) and ordered[-1] == pytest.approx(1.0)
    assert 0.0 < profile[12 * 60] < 1.0  # by noon part, not all, of a day's volume is done
    assert await redis.get(keys.once(DAY, "refdata")) == "done"


async def test_refdata_answers_503_when_massive_is_unreachable(function_server, http) -> None:
    async with function_server(
        "refdata", massive_rest_url="http://127.0.0.1:9", refdata_timeout_seconds=2
    ) as url:
        answer = await http.post(url, headers=refdata_request(), content=b"{}")
    assert answer.status_code == 503 and answer.json()["error"] == "upstream_unavailable"


async def test_movers_boards_match_the_simulator_truth(function_server, http, redis) -> None:
    async with running_simulator(date=DAY, start="09:29:40", speed=10, symbols=60, seed=11) as sim:
        async with function_server(
            "refdata",
            massive_rest_url=sim.rest_url,
            massive_api_key=sim.api_key,
            refdata_sessions=3,
        ) as url:
            answer = await http.post(url, headers=refdata_request(), content=b"{}")
            assert answer.json()["status"] == "applied"
        frames = await collect_bars(sim.ws_url, sim.api_key, seconds=4.0)
        truth = sim.truth({"limit": "0"})
    assert len(frames) > 5
    async with function_server("movers", function_max_event_age_seconds=0) as url:
        for frame in frames:
            headers = binary_request("dev.stampede.stocks.aggregate.v1")
            answer = await http.post(url, headers=headers, content=frame)
            assert answer.status_code == 200, answer.text

    for board in ("gainers", "losers", "gappers", "from_open", "volume"):
        ours = dict(await redis.zrange(keys.board(DAY, board), 0, -1, withscores=True))
        expected = {r["sym"]: r["value"] for r in truth["boards"][board]}
        assert ours.keys() == expected.keys(), board
        for sym, value in expected.items():
            assert ours[sym] == pytest.approx(value, rel=1e-9, abs=1e-9), (board, sym)
    assert truth["boards"]["from_open"], "the run should cross the 09:30 open"
