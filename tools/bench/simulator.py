"""Simulator throughput: ``stampede sim --rate N`` (subprocess) to one fast reader.

Starts the simulator as its own process, connects one WebSocket reader that subscribes to
``A.*,T.*`` and only counts (events = occurrences of ``"ev":`` minus status objects), and
prints the achieved events/s and frames/s over the measurement window, plus both processes'
CPU. Not a test: run it and record the figures in docs/simulator.md.

    stampede bench simulator --rate 50000 --seconds 20
"""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
import tempfile
import time
from pathlib import Path

import psutil
from websockets.asyncio.client import connect

from stampede.tools import localstack

API_KEY = "bench-key"


def add_window_arguments(parser: argparse.ArgumentParser, rate: int, warmup: float) -> None:
    """``--rate``, ``--seconds`` and ``--warmup``: the load and measurement window of the benches
    that drive the simulator's feed (this one and ``stampede bench bridge``)."""
    parser.add_argument(
        "--rate", type=int, default=rate, help=f"events/s asked of the simulator (default {rate})"
    )
    parser.add_argument(
        "--seconds", type=float, default=20.0, help="measurement window (default 20)"
    )
    parser.add_argument(
        "--warmup",
        type=float,
        default=warmup,
        help=f"seconds before measuring (default {warmup:g})",
    )


async def read(url: str, subscriptions: str, warmup: float, seconds: float) -> dict[str, float]:
    async with connect(url, max_size=None, compression=None, max_queue=1024) as ws:
        await ws.recv()
        await ws.send(json.dumps({"action": "auth", "params": API_KEY}))
        assert json.loads(await ws.recv())[0]["status"] == "auth_success"
        await ws.send(json.dumps({"action": "subscribe", "params": subscriptions}))
        loop = asyncio.get_running_loop()
        start = loop.time() + warmup
        end = start + seconds
        events = frames = size = 0
        counting = False
        while True:
            raw = await ws.recv(decode=False)
            now = loop.time()
            if now >= end:
                break
            if not counting and now >= start:
                counting, t0 = True, now
            if counting:
                frames += 1
                size += len(raw)
                events += raw.count(b'"ev":') - raw.count(b'"ev":"status"')
        elapsed = now - t0
        return {"events": events / elapsed, "frames": frames / elapsed, "mb": size / elapsed / 1e6}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    add_window_arguments(parser, rate=50_000, warmup=3.0)
    parser.add_argument("--subscriptions", default="A.*,T.*")
    parser.add_argument(
        "--market", action="store_true", help="realistic market at --start instead of --rate"
    )
    parser.add_argument(
        "--start", default="09:30:00", help="ET start for --market (default 09:30:00)"
    )
    parser.add_argument("--speed", type=float, default=1.0, help="clock speed for --market")
    args = parser.parse_args(argv)

    workdir = Path(tempfile.mkdtemp(prefix="stampede-bench-sim-"))
    port = localstack.free_port()
    mode = (
        ["--start", args.start, "--speed", str(args.speed)]
        if args.market
        else ["--rate", str(args.rate)]
    )
    sim = localstack.ServerProcess(
        "sim",
        "127.0.0.1",
        port,
        workdir,
        workdir / "sim.log",
        localstack.stampede_argv(
            "sim", "--api-key", API_KEY, "--seed", "7", "--date", "2025-03-14", *mode, port=port
        ),
    )
    launched = time.monotonic()
    sim.start()
    ready_s = time.monotonic() - launched
    try:
        proc = psutil.Process(sim.pid)
        me = psutil.Process()
        proc.cpu_percent(None)
        me.cpu_percent(None)
        result = asyncio.run(
            read(f"ws://127.0.0.1:{port}/stocks", args.subscriptions, args.warmup, args.seconds)
        )
        cpu_sim, cpu_reader = proc.cpu_percent(None), me.cpu_percent(None)
    finally:
        sim.stop()
    what = (
        f"--market --start {args.start} --speed {args.speed}"
        if args.market
        else f"--rate {args.rate}"
    )
    print(
        f"stampede sim {what}, reader subscribed to {args.subscriptions}, "
        f"{args.seconds:.0f}s after {args.warmup:.0f}s warm-up"
    )
    print(f"  startup to listening : {ready_s:.2f} s")
    print(f"  events/s received    : {result['events']:,.0f}")
    print(f"  frames/s received    : {result['frames']:,.0f}")
    print(f"  MB/s received        : {result['mb']:,.1f}")
    print(f"  CPU % (100 = 1 core) : sim {cpu_sim:.0f}, reader {cpu_reader:.0f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
