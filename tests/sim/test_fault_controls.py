"""The simulator's fault controls (``/_sim/faults``), seen from a raw Massive client."""

from __future__ import annotations

import asyncio

import httpx
import pytest
from websockets.asyncio.client import connect
from websockets.exceptions import InvalidStatus

from stampede.sim.settings import LOCAL_API_KEY
from stampede.sim.testing import running_simulator
from support.sim import DAY, open_session, recv_json

KEY = LOCAL_API_KEY  # the simulator's default key


async def test_a_hung_connection_sends_nothing_and_answers_no_ping_until_replaced() -> None:
    async with running_simulator(date=DAY, start="10:00", symbols=100) as sim:
        ws = await open_session(sim.ws_url, sim.api_key, "A.*", ping_interval=None)
        assert (await recv_json(ws))[0]["ev"] == "A"
        async with httpx.AsyncClient(base_url=sim.rest_url, params={"apiKey": sim.api_key}) as api:
            assert (await api.get("/_sim/faults/hang")).json() == {"hung": 1}
            pong = await ws.ping()
            with pytest.raises(TimeoutError):  # no pong, and no market data either
                async with asyncio.timeout(2.5):
                    await asyncio.gather(pong, ws.recv())
            assert ws.state.name == "OPEN"  # nothing closed it
            assert (await api.get("/_sim/faults")).json()["hung"] == 1
            # A new login with the key replaces it, as Massive keeps one connection per key.
            again = await open_session(sim.ws_url, sim.api_key, "A.*")
            assert (await recv_json(again))[0]["ev"] == "A"
            await asyncio.sleep(0.2)
            assert (await api.get("/_sim/faults")).json() == {
                "connections": 1,
                "hung": 0,
                "refusing_for_s": 0.0,
            }
            await again.close()
        await ws.close()


async def test_a_refusal_answers_503_to_the_feed_and_rest_keeps_working() -> None:
    async with running_simulator(date=DAY, start="10:00", symbols=100) as sim:
        async with httpx.AsyncClient(base_url=sim.rest_url, params={"apiKey": sim.api_key}) as api:
            assert (await api.get("/_sim/faults/refuse", params={"seconds": 30})).json() == {
                "refusing_for_s": 30.0
            }
            for _ in range(3):
                with pytest.raises(InvalidStatus) as refused:
                    await connect(sim.ws_url)
                assert refused.value.response.status_code == 503
            assert (await api.get("/v1/marketstatus/now")).status_code == 200
            assert (await api.get("/_sim/faults/refuse", params={"seconds": 0})).status_code == 200
            ws = await open_session(sim.ws_url, sim.api_key, "A.*")
            await ws.close()
            metrics = (await api.get("/metrics")).text
        assert "stampede_sim_refused_connections_total 3.0" in metrics
        assert 'stampede_sim_faults_total{fault="refuse"} 2.0' in metrics


async def test_a_disconnect_fault_sends_its_status_then_closes() -> None:
    async with running_simulator(date=DAY, start="10:00", symbols=100) as sim:
        ws = await open_session(sim.ws_url, sim.api_key, "A.*")
        async with httpx.AsyncClient(base_url=sim.rest_url, params={"apiKey": sim.api_key}) as api:
            answer = await api.get("/_sim/faults/disconnect", params={"status": "slow_consumer"})
        assert answer.json() == {"disconnected": 1, "status": "slow_consumer"}
        last = None
        async for raw in ws:
            last = raw
        assert last is not None and '"status":"slow_consumer"' in last
        assert ws.close_code == 1000


@pytest.mark.parametrize(
    ("path", "params", "status", "error"),
    [
        ("/_sim/faults/hang", {}, 401, "API Key was not provided"),
        ("/_sim/faults/refuse", {"apiKey": "wrong"}, 401, "Unknown API Key"),
        ("/_sim/faults/refuse", {"apiKey": KEY, "seconds": "soon"}, 400, "must be a number"),
        ("/_sim/faults/refuse", {"apiKey": KEY, "seconds": "-1"}, 400, "must be between"),
        ("/_sim/faults/disconnect", {"apiKey": KEY, "status": "auth_failed"}, 400, "one of"),
        ("/_sim/faults/explode", {"apiKey": KEY}, 400, "unknown fault"),
    ],
)
async def test_bad_fault_requests_are_refused_with_a_reason(
    path: str, params: dict[str, str], status: int, error: str
) -> None:
    async with running_simulator(date=DAY, start="10:00", symbols=100) as sim:
        async with httpx.AsyncClient(base_url=sim.rest_url) as api:
            answer = await api.get(path, params=params)
        assert answer.status_code == status
        assert error in answer.json()["error"]
