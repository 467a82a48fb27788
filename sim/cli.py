"""``stampede sim``: a protocol-faithful Massive stocks feed (WebSocket + REST) on one port.

    stampede sim --start 09:29:30 --speed 1 --seed 7          # a realistic market day
    stampede sim --rate 50000                                 # load: 50k events/s, A and T mixed
    stampede sim --rate 50000 --shape market                  # the same, shaped like a real tape
    stampede sim --replay feed.jsonl --speed 2                # replay a recording, twice as fast

WebSocket: ws://HOST:PORT/stocks. REST: http://HOST:PORT (Massive's paths). Simulator-only:
/_sim/truth, /_sim/clock, /healthz, /readyz, /metrics. Every flag has an environment variable
(see `stampede config`); flags win. Prints one readiness line on stdout when serving.
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import signal
import sys

from stampede import service
from stampede.sim.server import Simulator
from stampede.sim.settings import SimSettings
from stampede.telemetry import setup_logging

FLAGS: dict[str, tuple[str, type, str]] = {
    "--host": ("sim_host", str, "listen address"),
    "--port": ("sim_port", int, "listen port (0 = any free port)"),
    "--api-key": (
        "massive_api_key",
        str,
        "the one accepted API key (default $MASSIVE_API_KEY or stampede-local-key)",
    ),
    "--date": (
        "sim_date",
        str,
        "trading day YYYY-MM-DD (default: latest XNYS session on or before today)",
    ),
    "--start": ("sim_start", str, "ET start time HH:MM[:SS], or 'now' (default now)"),
    "--speed": ("sim_speed", float, "simulated seconds per wall second (default 1)"),
    "--seed": ("sim_seed", int, "random seed (default 1)"),
    "--symbols": ("sim_symbols", int, "number of tickers (default 8200)"),
    "--history-days": ("sim_history_days", int, "past sessions served by REST (default 30)"),
    "--rate": ("sim_rate", int, "load mode: events per second, A and T mixed"),
    "--shape": (
        "sim_shape",
        str,
        "load mode's spread: uniform (every visit a new ticker, default) or market (heavy-tailed)",
    ),
    "--activity": ("sim_activity", float, "market mode: scale of trading intensity (default 1)"),
    "--hold-clock": (
        "sim_hold_clock",
        str,  # pydantic reads true/false
        "hold the clock at --start until /_sim/clock/start (true/false)",
    ),
    "--replay": ("sim_replay", str, "replay a recorded feed file (JSON lines of frames)"),
    "--record": ("sim_record", str, "append every market frame sent to this file"),
    "--agg-delay-ms": (
        "sim_agg_delay_ms",
        int,
        "delay of A/AM bars after their window (default 2000)",
    ),
    "--tick-ms": ("sim_tick_ms", int, "wall ms between sends (default 50)"),
    "--frame-events": ("sim_frame_events", int, "most events per frame (default 500)"),
    "--slow-consumer-bytes": (
        "sim_slow_consumer_bytes",
        int,
        "per-connection buffer bound before slow_consumer",
    ),
    "--auth-timeout": (
        "sim_auth_timeout",
        float,
        "seconds to authenticate before auth_timeout (default 10)",
    ),
}


def parse(argv: list[str]) -> SimSettings:
    parser = argparse.ArgumentParser(
        prog="stampede sim",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    for flag, (field, kind, help_) in FLAGS.items():
        parser.add_argument(flag, dest=field, type=kind, default=None, help=help_)
    args = parser.parse_args(argv)
    overrides = {k: v for k, v in vars(args).items() if v is not None}
    return SimSettings(**overrides)


async def serve(settings: SimSettings) -> int:
    sim = Simulator(settings)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    await sim.start()
    clock = sim.clock.as_json()
    mode = (
        f"rate {settings.sim_rate}/s {settings.sim_shape.value}"
        if settings.sim_rate
        else ("replay" if settings.sim_replay else "market")
    )
    print(
        f"stampede sim ready ws={sim.ws_url} rest={sim.rest_url} day={sim.day} et={clock['et']} "
        f"speed={settings.sim_speed} mode={mode} symbols={sim.universe.size}",
        flush=True,
    )
    await stop.wait()
    await sim.stop()
    return 0


def main(argv: list[str]) -> int:
    settings = service.load_settings(lambda: parse(argv), "stampede sim")
    setup_logging(settings, "sim")
    logging.getLogger("stampede.sim.websockets").setLevel(logging.WARNING)
    try:
        return service.run_worker(serve(settings))
    except ValueError as exc:
        print(f"stampede sim: {exc}", file=sys.stderr)
        return service.EXIT_CONFIG
