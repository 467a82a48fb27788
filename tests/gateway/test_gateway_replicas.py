"""Several gateway processes behind one port (`stampede up --replicas gateway=N`): real
`stampede gateway --reuse-port` processes share the public port, the kernel spreads the
WebSocket clients over them, and each reports its own metrics on its private status port
(the public port serves none)."""

from __future__ import annotations

import asyncio
import contextlib
import os
from collections.abc import Iterator
from pathlib import Path

import httpx
import websockets

from stampede import metricnames as names
from stampede.tools import localstack, promscrape
from stampede.tools.up import Component

CLIENTS = 24


@contextlib.contextmanager
def gateways(redis_url: str, workdir: Path, n: int) -> Iterator[list[Component]]:
    port = localstack.free_port()
    env = {**os.environ, "REDIS_URL": redis_url, "GATEWAY_AUTH": "off", "LOG_FORMAT": "json"}
    started = [
        Component(
            f"gateway-{i}",
            "127.0.0.1",
            port,
            workdir,
            workdir / f"gateway-{i}.log",
            [*localstack.stampede_argv("gateway", "--reuse-port", port=port), "--status-port"]
            + [str(status)],
            env,
            status_port=status,
        )
        for i, status in enumerate(localstack.free_port() for _ in range(n))
    ]
    for gateway in started:
        gateway.launch()
    try:
        for gateway in started:
            gateway.wait_ready(30)
        yield started
    finally:
        localstack.stop_together(started)


def clients_of(gateway: Component) -> float:
    return promscrape.scrape(f"{gateway.url}/metrics", timeout=5.0).value(names.GATEWAY_CLIENTS)


async def test_two_gateways_share_one_port_and_each_serves_some_clients(
    redis_url: str, tmp_path: Path
) -> None:
    with gateways(redis_url, tmp_path, 2) as (first, second):
        public = first.public_url
        assert public == second.public_url and first.url != second.url
        async with httpx.AsyncClient(base_url=public) as http:
            assert (await http.get("/healthz")).status_code == 200
            assert (await http.get("/metrics")).status_code == 404  # private port only
        async with contextlib.AsyncExitStack() as stack:
            ws_url = public.replace("http://", "ws://") + "/ws"
            for _ in range(CLIENTS):
                ws = await stack.enter_async_context(websockets.connect(ws_url))
                assert await asyncio.wait_for(ws.recv(), 10)  # each one's hello
            counts = [clients_of(first), clients_of(second)]
        # every client on one of them; both got some (all on one: a chance of 2 in 2**24)
        assert sum(counts) == CLIENTS and min(counts) > 0, counts
        assert first.running and second.running
