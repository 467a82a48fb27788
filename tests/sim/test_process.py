"""``stampede sim`` as a process, and record -> replay."""

from __future__ import annotations

import json
import signal
import subprocess
import sys
from pathlib import Path

import httpx

from stampede.sim.testing import running_simulator
from stampede.tools import localstack
from support.sim import DAY, open_session, recv_json


def test_cli_prints_readiness_serves_health_and_stops_on_sigterm(tmp_path: Path) -> None:
    port = localstack.free_port()
    proc = subprocess.Popen(
        localstack.stampede_argv(
            "sim",
            "--date",
            DAY,
            "--start",
            "09:30:00",
            "--symbols",
            "200",
            "--api-key",
            "k1",
            port=port,
        ),
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    try:
        line = proc.stdout.readline()
        assert (
            line.startswith("stampede sim ready ") and f"ws=ws://127.0.0.1:{port}/stocks" in line
        ), line
        assert httpx.get(f"http://127.0.0.1:{port}/readyz").status_code == 200
        clock = httpx.get(f"http://127.0.0.1:{port}/_sim/clock").json()
        assert clock["et"].startswith(f"{DAY}T09:30:0") and clock["speed"] == 1.0
        assert (
            httpx.get(
                f"http://127.0.0.1:{port}/v2/aggs/ticker/SPY/prev", params={"apiKey": "k1"}
            ).status_code
            == 200
        )
        assert "stampede_sim_connections" in httpx.get(f"http://127.0.0.1:{port}/metrics").text
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(15) == 0
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()


def test_bad_configuration_exits_2() -> None:
    done = subprocess.run(
        [sys.executable, "-m", "stampede.tools.cli", "sim", "--date", "2025-03-15", "--port", "0"],
        capture_output=True,
        text=True,
        timeout=30,
        check=False,
    )
    assert done.returncode == 2 and "not an XNYS trading day" in done.stderr


async def test_record_then_replay_gives_the_same_frames(tmp_path: Path) -> None:
    recording = tmp_path / "feed.jsonl"
    async with running_simulator(
        date=DAY, start="10:00", speed=2, symbols=200, seed=8, record=str(recording)
    ) as sim:
        ws = await open_session(sim.ws_url, sim.api_key, "A.*,T.AAPL")
        original = [await recv_json(ws) for _ in range(40)]
        await ws.close()
    lines = recording.read_text().splitlines()
    assert [json.loads(line)["frame"] for line in lines[:40]] == original

    async with running_simulator(symbols=200, seed=8, replay=str(recording), speed=4) as sim:
        ws = await open_session(sim.ws_url, sim.api_key, "A.*,T.AAPL")
        replayed = [await recv_json(ws) for _ in range(40)]
        truth_symbols = set(sim.truth()["symbols"])
        await ws.close()
    assert replayed == original
    sent_bars = {ev["sym"] for frame in replayed for ev in frame if ev["ev"] == "A"}
    assert sent_bars and truth_symbols >= sent_bars  # replayed A bars feed the ground truth too

    # a filtered subscription gets only its part of each recorded frame
    async with running_simulator(symbols=200, seed=8, replay=str(recording), speed=4) as sim:
        ws = await open_session(sim.ws_url, sim.api_key, "T.AAPL")
        frame = await recv_json(ws)
        assert frame and all(ev["ev"] == "T" and ev["sym"] == "AAPL" for ev in frame)
        await ws.close()
