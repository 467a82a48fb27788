"""The dispatcher survives a NATS restart, and runs as `stampede dispatch` with a clean SIGTERM."""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
from pathlib import Path

import httpx
import nats

from stampede.events import MARKET_EVENT_TYPES
from stampede.market import Channel
from stampede.tools import localstack
from support.dispatch import (
    Subscriber,
    all_bound,
    eventually,
    market_stream,
    metric,
    publish,
    running_dispatcher,
    serve_subscriber,
    write_triggers,
)

TRADES = {"name": "momentum", "type": MARKET_EVENT_TYPES[Channel.TRADE]}


async def test_nats_restart_mid_stream(tmp_path: Path) -> None:
    server = localstack.nats_server(tmp_path / "own").start()
    triggers = write_triggers(tmp_path / "t.yaml", [TRADES])
    nc = await nats.connect(server.url, max_reconnect_attempts=-1, reconnect_time_wait=0.2)
    js = nc.jetstream()
    try:
        async with serve_subscriber(Subscriber()) as fn:
            await js.add_stream(market_stream(Channel.TRADE))
            async with running_dispatcher(server.url, triggers, {"momentum": fn.url}) as dispatcher:
                await all_bound(dispatcher)
                before = await publish(js, Channel.TRADE, 5)
                await eventually(
                    lambda: len(fn.received) == 5, what="deliveries before the restart"
                )

                server.restart()  # memory stream and its consumer are gone
                await eventually(
                    lambda: nc.is_connected and dispatcher.nc.is_connected, what="reconnect"
                )

                async def redeclare() -> bool:  # as the bridge does once JetStream answers again
                    try:
                        await js.add_stream(market_stream(Channel.TRADE))
                        return True
                    except nats.errors.Error:
                        return False

                await eventually(redeclare, what="stream re-declared")
                await eventually(
                    lambda: (
                        dispatcher.workers[0].state.value == "bound"
                        and metric(
                            dispatcher, "stampede_dispatch_consumer_bound", trigger="momentum"
                        )
                        == 1
                    ),
                    what="consumer re-created",
                )

                async def consumer_exists() -> bool:
                    try:
                        await js.consumer_info("STOCKS_T", "momentum")
                        return True
                    except nats.js.errors.NotFoundError:
                        return False

                await eventually(consumer_exists, what="consumer on the new stream")
                after = await publish(js, Channel.TRADE, 5)
                await eventually(
                    lambda: len(fn.received) == 10, what="deliveries after the restart"
                )
                assert sorted(r.headers["ce-id"] for r in fn.received) == sorted(
                    e.get_id() for e in before + after
                )
                assert (await dispatcher.readiness())[0]
    finally:
        await nc.close()
        server.stop()


async def test_cli_serves_status_and_stops_cleanly_on_sigterm(
    nats_url: str, tmp_path: Path
) -> None:
    triggers = write_triggers(tmp_path / "t.yaml", [TRADES])
    port = localstack.free_port()
    env = {
        **os.environ,
        "NATS_URL": nats_url,
        "DISPATCH_TRIGGERS_PATH": str(triggers),
        "DISPATCH_SUBSCRIBER_URLS": "momentum=http://127.0.0.1:9",
        "LOG_FORMAT": "console",
    }
    proc = subprocess.Popen(
        localstack.stampede_argv("dispatch", port=port),
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
    )
    try:
        async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{port}") as client:

            async def ready() -> bool:
                try:
                    return (await client.get("/readyz")).status_code == 200
                except httpx.HTTPError:
                    return False

            await eventually(ready, timeout=20, what="/readyz")
            answer = (await client.get("/readyz")).json()
            assert answer == {"status": "ready", "detail": "momentum: waiting for stream"}
            assert (await client.get("/healthz")).status_code == 200
            metrics = (await client.get("/metrics", follow_redirects=True)).text
            assert 'stampede_dispatch_consumer_pending{trigger="momentum"} 0.0' in metrics
            assert "stampede_dispatch_nats_connected 1.0" in metrics
        proc.send_signal(signal.SIGTERM)
        assert await asyncio.to_thread(proc.wait, 15) == 0
        output = proc.stdout.read().decode()
        assert "stopped" in output, output
    finally:
        if proc.poll() is None:
            proc.kill()
