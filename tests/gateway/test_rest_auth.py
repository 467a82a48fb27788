"""REST, auth, limits and error frames against a real gateway."""

from __future__ import annotations

import asyncio

import httpx
import orjson
import pytest
import redis.asyncio as aioredis
import websockets

from support.gateway import DAY, Market, ReferenceClient, running_gateway


@pytest.fixture
async def market(redis_url):
    client = aioredis.from_url(redis_url)
    m = Market(client)
    await m.step(changes=30, removes=0)
    yield m
    await client.aclose()


async def test_rest_boards_health_metrics_and_openapi(market, redis_url):
    async with running_gateway(redis_url) as gw, httpx.AsyncClient(base_url=gw.url) as http:
        boards = (await http.get("/api/boards")).json()
        assert {
            "name": "halts",
            "title": "Halts / resumes",
            "metric": "halt_time",
            "ascending": False,
        } in boards
        snap = (
            await http.get(
                "/api/boards/gainers", params={"limit": 5, "min_price": 1, "max_price": 20}
            )
        ).json()
        assert snap["day"] == DAY and len(snap["rows"]) == 5
        assert all(1 <= r["last"] <= 20 for r in snap["rows"])
        bad = await http.get("/api/boards/nope")
        assert bad.status_code == 404 and bad.json()["code"] == "unknown_board"
        bad = await http.get("/api/boards/gainers", params={"limit": 0})
        assert (
            bad.status_code == 422
            and bad.json()["code"] == "bad_request"
            and "limit" in bad.json()["message"]
        )
        bad = await http.get("/api/boards/gainers", params={"min_price": 5, "max_price": 1})
        assert bad.status_code == 422 and "min_price" in bad.json()["message"]
        assert (await http.get("/healthz")).status_code == 200
        for _ in range(50):
            if (await http.get("/readyz")).status_code == 200:
                break
            await asyncio.sleep(0.1)
        assert (await http.get("/readyz")).status_code == 200
        text = (await http.get("/metrics")).text
        for name in (
            "stampede_pipeline_latency_seconds_bucket",
            "stampede_gateway_clients",
            "stampede_gateway_redis_reads_total",
            "stampede_gateway_ticks_total",
        ):
            assert name in text
        paths = (await http.get("/openapi.json")).json()["paths"]
        assert "/api/boards/{name}" in paths
        page = await http.get("/")
        assert page.status_code == 200 and "/static/app.js" in page.text
        js = (await http.get("/static/app.js")).text
        assert "MASSIVE" not in js.upper() or "apikey" not in js.lower()


async def test_token_guards_rest_and_websocket(market, redis_url):
    async with running_gateway(
        redis_url, gateway_auth="required", gateway_token="s3cret", gateway_auth_timeout_seconds=1
    ) as gw:
        async with httpx.AsyncClient(base_url=gw.url) as http:
            assert (await http.get("/api/boards")).status_code == 401
            assert (await http.get("/api/boards", headers={"Authorization": "Bearer nope"})).json()[
                "code"
            ] == "unauthorized"
            assert (
                await http.get("/api/boards", headers={"Authorization": "Bearer s3cret"})
            ).status_code == 200
            assert (
                await http.get("/")
            ).status_code == 200  # the page itself holds no data or secret
        async with websockets.connect(gw.ws_url + "?token=wrong") as ws:
            assert orjson.loads(await ws.recv())["code"] == "unauthorized"
            with pytest.raises(websockets.ConnectionClosed) as closed:
                await ws.recv()
            assert closed.value.rcvd.code == 4401
        async with websockets.connect(gw.ws_url) as ws:  # no token at all: times out
            assert orjson.loads(await ws.recv())["code"] == "unauthorized"
        async with ReferenceClient.connect(gw.ws_url + "?token=s3cret") as c:
            assert (await c.receive())["type"] == "hello"
        async with ReferenceClient.connect(gw.ws_url) as c:  # token as the first message
            await c.send({"type": "auth", "token": "s3cret"})
            assert (await c.receive())["type"] == "hello"
            await c.subscribe("g", "gainers", 5)
            assert (await c.until(lambda m: m["type"] == "snapshot"))["rows"]


async def test_bad_requests_get_error_frames_and_the_connection_lives(market, redis_url):
    async with (
        running_gateway(
            redis_url, gateway_max_subscriptions=2, gateway_max_message_bytes=512
        ) as gw,
        ReferenceClient.connect(gw.ws_url) as c,
    ):
        await c.receive()  # hello

        async def expect(raw: str, code: str) -> None:
            await c.ws.send(raw)
            m = await c.until(lambda m: m["type"] == "error")
            assert m["code"] == code, m
            assert m["message"]

        await expect("{oops", "bad_json")
        await expect('{"type": "teleport"}', "unknown_type")
        await expect('{"type": "subscribe", "id": "x", "board": "nope"}', "unknown_board")
        await expect(
            '{"type": "subscribe", "id": "x", "board": "gainers", "limit": 5000}', "bad_request"
        )
        await expect('{"type": "resync", "id": "ghost"}', "unknown_subscription")
        await expect('{"type": "ping", "t": "' + "x" * 600 + '"}', "message_too_large")
        await c.subscribe("a", "gainers", 5)
        await c.subscribe("b", "volume", 5)
        await c.until(lambda m: c.subs["a"].view is not None and c.subs["b"].view is not None)
        await expect(
            '{"type": "subscribe", "id": "c", "board": "losers"}', "too_many_subscriptions"
        )
        await c.send({"type": "ping", "t": 7})
        assert (await c.until(lambda m: m["type"] == "pong"))["t"] == 7
        await c.send({"type": "resync", "id": "a"})
        snap = await c.until(
            lambda m: m["type"] == "snapshot" and m["reason"] == "resync", timeout=3
        )
        assert snap["id"] == "a" and snap["rows"] == c.subs["a"].view
        await c.send({"type": "unsubscribe", "id": "b"})
        assert (await c.until(lambda m: m["type"] == "unsubscribed"))["id"] == "b"


async def test_client_limit_refuses_politely(market, redis_url):
    async with (
        running_gateway(redis_url, gateway_max_clients=1) as gw,
        ReferenceClient.connect(gw.ws_url) as first,
    ):
        assert (await first.receive())["type"] == "hello"
        with pytest.raises(websockets.InvalidStatus) as refused:  # in the handshake: 503
            async with websockets.connect(gw.ws_url):
                pass
        assert refused.value.response.status_code == 503
        assert orjson.loads(refused.value.response.body)["code"] == "too_many_clients"


async def test_new_trading_day_and_redis_restart(workdir):
    from stampede.tools import localstack

    server = localstack.redis_server(workdir / "gw-restart").start()
    try:
        client = aioredis.from_url(server.url)
        m = Market(client)
        await m.step(changes=20, removes=0)
        async with (
            running_gateway(server.url, gateway_refresh_seconds=1) as gw,
            ReferenceClient.connect(gw.ws_url) as c,
        ):
            await c.subscribe("g", "gainers", 10)
            await c.until(lambda m: m["type"] == "snapshot")
            await client.aclose()
            server.restart()  # empty again (no persistence): the gateway must reconnect by itself
            client = aioredis.from_url(server.url)
            nxt = Market(client, day="2025-03-17", seed=9)
            await asyncio.sleep(1.5)
            await nxt.step(changes=20, removes=0)
            await c.until(lambda m: m["type"] == "diff" and m["day"] == "2025-03-17", timeout=20)
            await c.drain(0.5)
            async with ReferenceClient.connect(gw.ws_url) as fresh:
                await fresh.subscribe("g", "gainers", 10)
                await fresh.until(lambda m: m["type"] == "snapshot")
                assert c.subs["g"].view == fresh.subs["g"].view and len(fresh.subs["g"].view) == 10
        await client.aclose()
    finally:
        server.stop()
