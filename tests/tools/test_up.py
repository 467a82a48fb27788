"""End to end: `stampede up` on the simulated feed, checked against the simulator's truth.

The scanner runs exactly as a newcomer runs it (`stampede up`, every component its own
process, private nats-server and redis-server) while something else already listens on 4222
and 6379. The simulated day starts at 19:59:40 ET, so the after-hours session ends 20 s later
and the feed goes quiet by itself: after that the boards must equal what the simulator says
it sent — exactly, not approximately. Then SIGINT must leave no process behind.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator

import httpx
import psutil
import pytest

from support.gateway import ReferenceClient

pytestmark = pytest.mark.slow

START = "19:59:40"  # after-hours ends 20:00:00 ET: the feed stops by itself
BOARD_LIMIT = 10


@contextlib.contextmanager
def squatters(ports: tuple[int, ...]) -> Iterator[None]:
    """Occupy the default NATS and Redis ports (if free) so `up` must not rely on them."""
    sockets = []
    for port in ports:
        s = socket.socket()
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            s.bind(("127.0.0.1", port))
            s.listen()
            sockets.append(s)
        except OSError:
            s.close()  # already taken by someone else: just as good
    try:
        yield
    finally:
        for s in sockets:
            s.close()


@pytest.fixture(scope="module")
def scanner(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict]:
    workdir = tmp_path_factory.mktemp("up")
    with squatters((4222, 6379)):
        proc = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "stampede.tools.cli",
                "up",
                "--workdir",
                str(workdir),
                "--port",
                "0",
                "--start",
                START,
                "--seed",
                "11",
            ],
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
        )
        status_path = workdir / "status.json"
        deadline = time.monotonic() + 120
        while not status_path.exists():
            if proc.poll() is not None or time.monotonic() > deadline:
                proc.kill()
                out = proc.stdout.read() if proc.stdout else ""
                logs = "\n".join(
                    f"--- {p.name}\n{p.read_text()[-2000:]}"
                    for p in (workdir / "logs").glob("*.log")
                )
                pytest.fail(f"stampede up did not come up:\n{out}\n{logs}")
            time.sleep(0.2)
        status = json.loads(status_path.read_text())
        status["proc"] = proc
        status["workdir"] = workdir
        try:
            yield status
        finally:
            if proc.poll() is None:
                proc.send_signal(signal.SIGINT)
                proc.wait(60)


def _truth(status: dict) -> dict:
    return httpx.get(
        f"{status['services']['sim']}/_sim/truth", params={"limit": BOARD_LIMIT}, timeout=10
    ).json()


def _wait_for_market_close(status: dict) -> dict:
    """Until the simulated clock is past the close plus the aggregate delay and truth is still."""
    deadline = time.monotonic() + 90
    previous = None
    while time.monotonic() < deadline:
        truth = _truth(status)
        clock = time.strftime("%H:%M:%S", time.gmtime(truth["sim_ms"] / 1000))
        quiet = previous is not None and previous["updated_ms"] == truth["updated_ms"]
        if quiet and truth["sim_ms"] - truth["updated_ms"] > 5_000 and truth["boards"]["gainers"]:
            return truth
        previous = truth
        time.sleep(1.0)
    pytest.fail(f"the simulated feed did not go quiet (sim clock {clock} UTC)")


def _rows(view: list[dict]) -> list[tuple[str, float]]:
    return [(row["sym"], round(row["change_pct"], 6)) for row in view]


async def test_gainers_board_over_websocket_matches_what_the_simulator_sent(scanner: dict) -> None:
    gateway_ws = scanner["gateway"].replace("http://", "ws://") + "/ws"
    async with ReferenceClient.connect(gateway_ws) as client:
        await client.subscribe("g", "gainers", limit=BOARD_LIMIT)
        await client.until(lambda m: m["type"] == "snapshot")
        # in a thread: the client keeps reading (and answering the gateway's pings) meanwhile
        truth = await asyncio.to_thread(_wait_for_market_close, scanner)
        expected = [(r["sym"], round(r["value"], 6)) for r in truth["boards"]["gainers"]]
        # The feed is quiet; give the pipeline time to drain, applying every diff on the way.
        deadline = time.monotonic() + 30
        while _rows(client.subs["g"].view or []) != expected and time.monotonic() < deadline:
            with contextlib.suppress(TimeoutError):
                await client.receive(timeout=1.0)
    assert _rows(client.subs["g"].view) == expected
    top = client.subs["g"].view[0]
    sent = _truth(scanner)["symbols"]
    assert top["last"] == pytest.approx(sent[top["sym"]]["last"])
    assert top["prev_close"] == pytest.approx(sent[top["sym"]]["prev_close"])
    assert top["volume"] == pytest.approx(sent[top["sym"]]["volume"])


def test_sigint_stops_every_process(scanner: dict) -> None:
    proc: subprocess.Popen = scanner["proc"]
    pids = scanner["pids"]
    assert len(pids) >= 9, pids
    proc.send_signal(signal.SIGINT)
    assert proc.wait(60) == 0
    alive = [
        name
        for name, pid in pids.items()
        if psutil.pid_exists(pid) and psutil.Process(pid).status() != psutil.STATUS_ZOMBIE
    ]
    assert alive == []
    assert "stopping" in (proc.stdout.read() if proc.stdout else "")
