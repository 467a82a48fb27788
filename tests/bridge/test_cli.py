"""`stampede bridge` as a process: fatal bad key, status endpoints, SIGTERM, no secret in logs."""

from __future__ import annotations

import asyncio
import os
import signal
import sys

import httpx

from stampede.sim.testing import running_simulator
from stampede.tools import localstack
from support.bridge import wait_for

SIM = {"start": "09:30:00", "symbols": 100, "seed": 5, "history_days": 2}


async def start_bridge(
    nats_url: str, ws_url: str, api_key: str, port: int, **env: str
) -> asyncio.subprocess.Process:
    full_env = {
        **os.environ,
        "NATS_URL": nats_url,
        "MASSIVE_WS_URL": ws_url,
        "MASSIVE_API_KEY": api_key,
        "BRIDGE_MARKET_HOURS_ONLY": "false",
        "BRIDGE_NEWS": "false",  # these tests are about the feed; news has its own
        "LOG_FORMAT": "console",
        "BRIDGE_BACKOFF_INITIAL": "0.05",
        **env,
    }
    return await asyncio.create_subprocess_exec(
        *localstack.stampede_argv("bridge", port=port),
        env=full_env,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )


async def test_a_rejected_key_exits_non_zero_with_a_clear_message(nats_url: str) -> None:
    async with running_simulator(**SIM) as sim:
        bridge = await start_bridge(nats_url, sim.ws_url, "wrong-key-31337", localstack.free_port())
        stdout, stderr = await asyncio.wait_for(bridge.communicate(), 60)
        attempts = sim.metrics.registry.get_sample_value(
            "stampede_sim_client_errors_total", {"kind": "auth_failed"}
        )
    log = stderr.decode()
    assert bridge.returncode == 3, log
    assert "Massive rejected the API key" in log and "MASSIVE_API_KEY" in log
    assert "wrong-key-31337" not in log + stdout.decode()
    assert attempts == 1  # no retry loop against a bad key


async def test_missing_key_is_a_configuration_error() -> None:
    env = {k: v for k, v in os.environ.items() if k != "MASSIVE_API_KEY"}
    proc = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "stampede.tools.cli",
        "bridge",
        env=env,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    _, stderr = await asyncio.wait_for(proc.communicate(), 30)
    assert proc.returncode == 2
    assert "MASSIVE_API_KEY" in stderr.decode()


async def test_status_endpoints_and_graceful_sigterm(nats_url: str) -> None:
    port = localstack.free_port()
    base = f"http://127.0.0.1:{port}"
    async with running_simulator(**SIM) as sim:
        bridge = await start_bridge(
            nats_url,
            sim.ws_url,
            sim.api_key,
            port,
            LOG_LEVEL="DEBUG",
            MASSIVE_SUBSCRIPTIONS="A.*,T.*",
        )
        try:
            async with httpx.AsyncClient(base_url=base, follow_redirects=True) as http:

                async def ready() -> bool:
                    try:
                        return (await http.get("/readyz")).status_code == 200
                    except httpx.HTTPError:
                        return False

                await wait_for(ready, timeout=30, what="/readyz 200")
                assert (await http.get("/healthz")).json() == {"status": "ok"}
                assert (await http.get("/readyz")).json()[
                    "detail"
                ] == "feed authenticated, NATS JetStream connected"

                async def published() -> bool:
                    text = (await http.get("/metrics")).text
                    return (
                        'stampede_bridge_published_events_total{channel="T"}' in text
                        and 'stampede_bridge_published_events_total{channel="T"} 0.0' not in text
                    )

                await wait_for(published, timeout=30, what="published trades in /metrics")
                text = (await http.get("/metrics")).text
                for name in (
                    "stampede_bridge_frames_received_total",
                    "stampede_bridge_queue_depth_frames",
                    "stampede_bridge_publish_latency_seconds_bucket",
                    "stampede_bridge_unacked_publishes",
                    "stampede_pipeline_latency_seconds_bucket",
                    'stampede_bridge_feed_state{state="connected"} 1.0',
                ):
                    assert name in text
                link = (await http.get("/status")).json()
                assert link["state"] == "connected" and link["faults_total"] == 0, link
            bridge.send_signal(signal.SIGTERM)
            _, stderr = await asyncio.wait_for(bridge.communicate(), 30)
        finally:
            if bridge.returncode is None:
                bridge.kill()
                await bridge.wait()
    log = stderr.decode()
    assert bridge.returncode == 0, log[-3000:]
    assert "bridge stopped" in log and "all publishes acknowledged: True" in log
    assert sim.api_key not in log  # not even at DEBUG, where websockets logs frames
