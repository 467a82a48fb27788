"""A public port means hostile clients (issue 25): each one's memory and message rate are
bounded against the real gateway, and an honest client beside them is served throughout."""

from __future__ import annotations

import asyncio
import json
import os
import socket
import subprocess

import httpx
import pytest
import redis.asyncio as aioredis
import websockets

from stampede.gateway import metrics
from stampede.gateway.clients import Client, Outgoing, TooSlow
from stampede.tools import localstack
from support.gateway import Market, running_gateway


def _dropped(reason: str) -> float:
    return metrics.CLIENTS_DROPPED.labels(reason)._value.get()


async def test_a_queue_past_twice_its_limit_ends_the_client_and_frees_its_memory() -> None:
    client = Client(queue_limit_bytes=1024)
    for _ in range(20):  # control replies and snapshots go past the soft limit ...
        client.push(Outgoing("x" * 100, "control"))
    assert client.queued_bytes == 2000 and not client.too_slow
    client.push(Outgoing("x" * 100, "snapshot"))  # ... but not past twice it
    assert client.too_slow and client.queued_bytes == 0 and not client.queue
    client.push(Outgoing("x" * 100, "control"))
    assert client.queued_bytes == 0  # nothing more is kept for it

    async def send(_: str) -> None:
        raise AssertionError("nothing is sent to a client past its limit")

    with pytest.raises(TooSlow):
        await client.pump(send)


async def test_a_message_flood_is_refused_then_closed_and_an_honest_client_is_served(
    redis_url: str,
) -> None:
    async with running_gateway(
        redis_url, gateway_client_messages_per_second=20, gateway_client_message_burst=40
    ) as gw:
        before = _dropped("rate_limited")
        async with (
            websockets.connect(gw.ws_url) as flooder,
            websockets.connect(gw.ws_url) as honest,
        ):
            assert json.loads(await flooder.recv())["type"] == "hello"
            assert json.loads(await honest.recv())["type"] == "hello"
            codes = []
            with pytest.raises(websockets.ConnectionClosed) as closed:
                for i in range(400):
                    await flooder.send(json.dumps({"type": "ping", "t": i}))
                while True:
                    reply = json.loads(await asyncio.wait_for(flooder.recv(), 10))
                    codes.append(reply.get("code", reply["type"]))
            assert closed.value.rcvd is not None
            assert (closed.value.rcvd.code, closed.value.rcvd.reason) == (1008, "rate_limited")
            assert codes.count("pong") <= 41 and "rate_limited" in codes
            assert _dropped("rate_limited") == before + 1
            await honest.send(json.dumps({"type": "ping", "t": 1}))
            assert json.loads(await asyncio.wait_for(honest.recv(), 5))["type"] == "pong"


async def test_a_client_that_never_reads_is_closed_too_slow(redis_url: str) -> None:
    redis = aioredis.Redis.from_url(redis_url)
    market = Market(redis, symbols=200)
    for _ in range(30):
        await market.step(changes=20, removes=0)
    await redis.aclose()
    async with running_gateway(redis_url, gateway_client_queue_bytes=16 * 1024) as gw:
        before = _dropped("too_slow")
        sock = socket.create_connection(("127.0.0.1", int(gw.url.rsplit(":", 1)[1])))
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)  # it reads nothing anyway
        sock.setblocking(False)
        async with websockets.connect(gw.ws_url, sock=sock, max_size=None) as sleeper:
            assert json.loads(await sleeper.recv())["type"] == "hello"
            subscribe = {"type": "subscribe", "board": "volume", "limit": 100}
            for i in range(30):
                await sleeper.send(json.dumps({**subscribe, "id": f"s{i}"}))
            # never reads again: asks for fresh snapshots of everything, within its rate
            for _ in range(400):
                if _dropped("too_slow") > before:
                    break
                await sleeper.send(json.dumps({"type": "resync"}))
                await asyncio.sleep(0.3)
            assert _dropped("too_slow") == before + 1
            assert all(len(c.queue) == 0 for c in gw.hub.clients)  # nothing kept for it


async def test_a_ticker_with_a_trailing_newline_is_refused(redis_url: str) -> None:
    async with running_gateway(redis_url) as gw, httpx.AsyncClient(base_url=gw.url) as http:
        for bad in ("AAPL%0A", "AAPL%0D%0A", "A" * 13):
            answer = await http.get(f"/api/symbols/{bad}")
            assert answer.status_code == 422, bad


async def test_a_page_of_another_site_cannot_open_the_websocket(redis_url: str) -> None:
    """Finding 11: the handshake's Origin must be the gateway's own or an allowed one."""
    allowed = "https://desk.example.com"
    async with running_gateway(redis_url, gateway_allowed_origins=allowed) as gw:
        own = gw.url  # the dashboard's own page: http://127.0.0.1:PORT
        before = _dropped("bad_origin")
        for origin in ("https://evil.example", "http://127.0.0.1:1", "null"):
            with pytest.raises(websockets.InvalidStatus) as refused:
                await websockets.connect(gw.ws_url, origin=origin)
            assert refused.value.response.status_code == 403, origin
        assert _dropped("bad_origin") == before + 3
        for origin in (own, allowed, None):  # None: not a browser (no Origin header)
            async with websockets.connect(gw.ws_url, origin=origin) as ws:
                assert json.loads(await asyncio.wait_for(ws.recv(), 5))["type"] == "hello"


async def _refused(ws_url: str, **options) -> tuple[str, int]:
    """The error code and HTTP status a connection over the cap gets: refused in its handshake
    (never accepted), told when to come back."""
    with pytest.raises(websockets.InvalidStatus) as refused:
        async with websockets.connect(ws_url, **options):
            pass
    answer = refused.value.response
    assert answer.headers["Retry-After"] == "5"
    return json.loads(answer.body)["code"], answer.status_code


async def test_pending_handshakes_count_against_the_cap_and_each_address_has_one(
    redis_url: str,
) -> None:
    """Finding 5: connections that have not authenticated yet hold their slot (1,500 got in
    under a cap of 1,000 before); one address cannot take every slot; X-Forwarded-For counts
    only from a trusted proxy."""
    async with (
        running_gateway(
            redis_url,
            gateway_auth="required",
            gateway_token="t0ken",
            gateway_max_clients=3,
            gateway_max_clients_per_address=2,
            gateway_auth_timeout_seconds=30,
        ) as gw,
        websockets.connect(gw.ws_url) as pending_1,  # never authenticate
        websockets.connect(gw.ws_url) as pending_2,
    ):
        assert await _refused(gw.ws_url) == ("too_many_clients", 503)  # address full
        forged = {"additional_headers": {"X-Forwarded-For": "198.51.100.7"}}
        # 127.0.0.1 is no trusted proxy here: its X-Forwarded-For is not believed
        assert await _refused(gw.ws_url, **forged) == ("too_many_clients", 503)
        assert pending_1.state is websockets.State.OPEN is pending_2.state
    async with running_gateway(
        redis_url,
        gateway_max_clients=3,
        gateway_max_clients_per_address=1,
        gateway_trusted_proxies="127.0.0.1",
    ) as gw:
        clients = [
            websockets.connect(gw.ws_url, additional_headers={"X-Forwarded-For": address})
            for address in ("198.51.100.7", "198.51.100.8", "198.51.100.9")
        ]
        async with clients[0] as a, clients[1] as b, clients[2] as c:
            for ws in (a, b, c):  # three addresses behind the proxy: one each
                assert json.loads(await asyncio.wait_for(ws.recv(), 5))["type"] == "hello"
            fourth = {"additional_headers": {"X-Forwarded-For": "198.51.100.10"}}
            assert await _refused(gw.ws_url, **fourth) == ("too_many_clients", 503)  # full


def test_the_gateway_refuses_to_start_open_unless_told_to() -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith("GATEWAY_")}
    argv = localstack.stampede_argv("gateway", port=localstack.free_port())
    done = subprocess.run(argv, env=env, capture_output=True, text=True, timeout=60)
    assert done.returncode == 2, done.stderr
    assert "GATEWAY_TOKEN is not set and GATEWAY_AUTH=required" in done.stderr


async def test_the_page_and_the_api_send_the_security_headers(redis_url: str) -> None:
    async with running_gateway(redis_url) as gw, httpx.AsyncClient(base_url=gw.url) as http:
        for path in ("/", "/static/app.js", "/api/boards", "/healthz"):
            headers = (await http.get(path)).headers
            policy = headers["content-security-policy"]
            assert "default-src 'self'" in policy and "frame-ancestors 'none'" in policy, path
            assert "unsafe-inline" not in policy.split("script-src")[1].split(";")[0], path
            assert headers["x-content-type-options"] == "nosniff", path
            assert headers["referrer-policy"] == "no-referrer", path
        assert (await http.get("/docs")).status_code == 404  # Swagger's CDN scripts: not served
        index = (await http.get("/")).text
        assert "<script>" not in index and " on" not in index.split("<body")[1].split(">")[0]


async def test_a_request_head_past_16_kb_is_refused_unread(redis_url: str) -> None:
    async with running_gateway(redis_url) as gw, httpx.AsyncClient(base_url=gw.url) as http:
        assert (await http.get("/healthz", headers={"x-pad": "a" * 8_000})).status_code == 200
        answer = await http.get("/healthz", headers={"x-pad": "a" * 20_000})
        assert answer.status_code == 431
        try:  # a head far past it is not even read whole: h11 stops at 16 KB of a partial one
            answer = await http.get("/healthz", headers={"x-pad": "a" * 4_000_000})
            assert answer.status_code in (400, 431)
        except (httpx.RemoteProtocolError, httpx.WriteError, httpx.ReadError):
            pass  # closed while the client was still writing its head: refused just the same


async def test_a_slow_header_connection_is_closed_at_the_header_timeout(redis_url: str) -> None:
    """Finding 6 (slowloris): a head that trickles in a byte at a time is cut at
    GATEWAY_HEADER_TIMEOUT_SECONDS; a prompt request on the same server is served."""
    async with running_gateway(redis_url, gateway_header_timeout_seconds=1.0) as gw:
        host, port = gw.url.removeprefix("http://").split(":")
        before = _dropped("header_timeout")
        reader, writer = await asyncio.open_connection(host, int(port))
        writer.write(b"GET /healthz HTTP/1.1\r\nHost: gw\r\n")
        started = asyncio.get_running_loop().time()
        closed_after = None
        for i in range(40):  # a header line every 0.2 s: it would take 8 s to finish
            writer.write(f"X-Slow-{i}: a\r\n".encode())
            try:
                await writer.drain()
                if await asyncio.wait_for(reader.read(1024), 0.2) == b"":
                    closed_after = asyncio.get_running_loop().time() - started
                    break
            except TimeoutError:
                continue
            except (ConnectionError, OSError):
                closed_after = asyncio.get_running_loop().time() - started
                break
        writer.close()
        assert closed_after is not None and 0.8 <= closed_after < 3.0, closed_after
        assert _dropped("header_timeout") == before + 1
        async with httpx.AsyncClient(base_url=gw.url) as http:
            assert (await http.get("/healthz")).status_code == 200


async def test_a_client_that_stops_reading_is_closed_within_ten_seconds(redis_url: str) -> None:
    """A never-reading client (issue 25's flooders): while the kernel's buffers still take its
    diffs it is not yet behind, but it answers no ping; the gateway closes it within 10 s and
    counts it as ``unresponsive``, while a client that reads stays."""
    market = Market(aioredis.from_url(redis_url), symbols=40)
    await market.step(changes=40, removes=0)
    before = _dropped("unresponsive")
    async with (
        running_gateway(redis_url) as gw,
        websockets.connect(gw.ws_url, max_queue=1, close_timeout=1) as deaf,  # reads 1, no more
        websockets.connect(gw.ws_url) as honest,
    ):
        for ws in (deaf, honest):
            for board in ("gainers", "volume", "losers"):
                await ws.send(json.dumps({"type": "subscribe", "id": board, "board": board}))
        opened = asyncio.get_running_loop().time()
        closed_after = None
        while asyncio.get_running_loop().time() - opened < 15:
            await market.step(changes=5, removes=0)
            await asyncio.wait_for(honest.recv(), 5)  # the honest one reads (and pongs)
            if _dropped("unresponsive") > before:  # the deaf client cannot tell: it reads nothing
                closed_after = asyncio.get_running_loop().time() - opened
                break
            await asyncio.sleep(0.2)
        assert honest.state is websockets.State.OPEN
        assert len(gw.hub.clients) == 1  # the deaf one is gone from the gateway
    assert closed_after is not None and closed_after < 10.0, closed_after
    assert _dropped("unresponsive") == before + 1
