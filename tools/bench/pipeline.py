"""`stampede bench`: the whole local pipeline under load, measured stage by stage.

Each run starts a fresh ``stampede up`` (every component its own process on private NATS and
Redis), keeps one WebSocket client subscribed to every board on the gateway, scrapes every
component's ``/metrics`` once a second and samples CPU and memory of every process (psutil on
the pids of status.json). Scenarios:

- **steady**: the simulator's load mode at fixed rates from a fixed session time
  (``--sim-start``, 13:00 ET), in both shapes (``uniform``: every
  visit a different symbol; ``market``: the market model's heavy tail, most trades in a few
  hundred names); per rate the throughput of each stage, latency percentiles, drops, consumer
  lag, CPU/memory per process, and the strict and old held verdicts side by side.
- **ramp**: per shape, rates rise (doubling, then bisecting between the last rate held and the
  first one not held) under the strict definition: >= 99 % applied, board-write p99 of the
  last 30 s of a 60 s window under 500 ms, nothing shed stale, consumer pending not growing.
  Reports the highest rate held and CPU per process there.
- **open**: the simulated market from 09:29:30 (seed 7): one row per second for 90 s after
  09:30 (offered, applied, board-write p50/p99, shed, pending), whether p99 stays under 1 s in
  every second from 09:30:05, and afterwards the boards compared with ``/_sim/truth``.
- **latency**: exchange->client latency of the boards at 20,000 events/s on a live clock.
- **scale**: the ladder: the same load (``--scale-rate``) with 1, 2 and 4 processes of the
  busiest function (the one using the most CPU on the first rung) on 1 and on 3 Redis
  primaries; per rung the held verdict, Redis CPU per event, and each process's share of the
  function's deliveries, its CPU and its CPU per event.
- **restart**: a start at ``--sim-start`` under a steady 10k/s market load, then the bridge and
  each function restarted one at a time (``--restart-gap`` apart): the live board-write p99
  second by second, each part's catch-up time, and whether p99 stayed under 1 s in every
  second from 5 s after each (re)start.
- **hostile**: the steady market load (``--hostile-rate``, 20k/s) with one honest dashboard
  client, ``--seconds`` without attackers and then as long with them: 50 never-reading
  flooders, 1,000 slow-header connections, a storm of 5,000 unauthenticated connections and
  1,000 forged events/s (``attack.py``, its own process). Reports the honest client's
  exchange->client p99 both ways, the gateway's peak RSS, what was refused by reason, the
  most connections admitted, and whether anything forged reached a board (issue 25's bar).
- **day**: a whole simulated session (04:00 -> 20:00 ET at 120x), the night and the next
  trading day's pre-market: memory, keys, stream bytes and clients once a wall second, growth
  per simulated hour, key TTLs, the day switch (``day.py``; ``--quick``: from 19:30 at 900x).

Results: a table on stdout and ``<out>/<timestamp>.json``. Everything shares this machine's
cores, so CPU per process is part of every result.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shutil
import sys
import tempfile
from collections.abc import Callable
from datetime import datetime
from pathlib import Path

import httpx
import psutil

from stampede.tools import localstack
from stampede.tools.bench import day, hostile, scenarios
from stampede.tools.bench.probes import speed_probe_ms
from stampede.tools.bench.report import report
from stampede.tools.bench.verdict import Doc
from stampede.tools.up import replica_counts

SCENARIOS = ("steady", "ramp", "open", "latency", "scale", "restart", "hostile", "day")
RUNNERS: dict[str, Callable[[scenarios.Plan], object]] = {
    "steady": scenarios.steady,
    "ramp": scenarios.ramp,
    "open": scenarios.open_burst,
    "latency": scenarios.exchange_latency,
    "scale": scenarios.scale,
    "restart": scenarios.restart,
    "hostile": hostile.hostile,
    "day": lambda plan: day.day_run(plan.day),
}


def machine() -> Doc:
    cpuinfo = Path("/proc/cpuinfo")
    lines = cpuinfo.read_text().splitlines() if cpuinfo.exists() else []
    model = next(
        (line.split(":", 1)[1].strip() for line in lines if line.startswith("model name")),
        platform.processor(),
    )
    return {
        "cpus": os.cpu_count(),
        "cpu_model": model,
        "memory_gb": round(psutil.virtual_memory().total / 2**30, 1),
        "python": platform.python_version(),
        "platform": platform.platform(),
        "speed_probe_ms": speed_probe_ms(),
    }


def _ints(text: str) -> list[int]:
    return [int(float(r)) for r in text.split(",")]


def parse_args(argv: list[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="stampede bench",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--scenario", choices=(*SCENARIOS, "all"), default="all")
    parser.add_argument(
        "--shape",
        choices=(*scenarios.SHAPES, "both"),
        default="both",
        help="load shape of steady, ramp and latency runs (default both)",
    )
    parser.add_argument(
        "--rates",
        default=None,
        help="steady rates, events/s, comma-separated (default 10000,50000,100000; --quick: 10000)",
    )
    parser.add_argument(
        "--seconds",
        type=float,
        default=None,
        help="measured seconds per steady rate (default 60; --quick 20)",
    )
    parser.add_argument(
        "--ramp-seconds",
        type=float,
        default=None,
        help="seconds a ramp step must hold (default 60; --quick 20)",
    )
    parser.add_argument(
        "--open-seconds",
        type=float,
        default=None,
        help="seconds measured after 09:30 (default 90; --quick 30)",
    )
    parser.add_argument(
        "--latency-rate",
        type=int,
        default=20_000,
        help="events/s of the exchange->client latency run (default 20000)",
    )
    parser.add_argument(
        "--sim-start",
        default="13:00:00",
        help="simulated ET time the steady, ramp and scale runs start at (default 13:00:00: "
        "fixed, so the verdict does not depend on the wall clock; the day's news so far is "
        "caught up first)",
    )
    parser.add_argument(
        "--restart-gap",
        type=float,
        default=None,
        help="seconds between the restart scenario's restarts (default 30; --quick 15)",
    )
    parser.add_argument(
        "--hostile-rate",
        type=int,
        default=20_000,
        help="events/s of the market load under the hostile scenario (default 20000)",
    )
    parser.add_argument(
        "--scale-rate",
        type=int,
        default=None,
        help="events/s every rung of the scale ladder offers (default 40000; --quick 10000)",
    )
    parser.add_argument(
        "--day-date",
        default="2025-03-13",
        help="session of the day scenario; its next trading day follows (default 2025-03-13)",
    )
    parser.add_argument(
        "--day-speed",
        type=float,
        default=None,
        help="simulated seconds per wall second of the day scenario (default 120; --quick 900)",
    )
    parser.add_argument(
        "--day-activity",
        type=float,
        default=0.02,
        help="share of a full day's trading in the day scenario (default 0.02)",
    )
    parser.add_argument(
        "--redis-cluster",
        type=localstack.redis_primaries,
        default=1,
        metavar="N",
        help="steady, ramp, open and latency on a local Redis Cluster of N >= 3 primaries "
        "(`stampede up --redis-cluster N`); the report adds CPU per Redis node (default 1)",
    )
    parser.add_argument(
        "--replicas",
        type=replica_counts,
        default={},
        metavar="NAME=N[,NAME=N]",
        help="processes per function of every load and open pipeline (`stampede up --replicas`, "
        "e.g. momentum=4); the report shows each replica's share (default: one each)",
    )
    parser.add_argument(
        "--quick", action="store_true", help="short windows for a smoke run (a few minutes)"
    )
    parser.add_argument(
        "--out",
        default="bench-results",
        help="directory for <timestamp>.json (default bench-results)",
    )
    return parser.parse_args(argv)


def make_plan(args: argparse.Namespace, workroot: Path) -> scenarios.Plan:
    quick = args.quick
    default_rates = [10_000] if quick else [10_000, 50_000, 100_000]
    return scenarios.Plan(
        shapes=list(scenarios.SHAPES) if args.shape == "both" else [args.shape],
        rates=_ints(args.rates) if args.rates else default_rates,
        seconds=args.seconds or (20 if quick else 60),
        warmup=3 if quick else 10,
        ramp_seconds=args.ramp_seconds or (20 if quick else 60),
        ramp_rates=[10_000, 40_000] if quick else [10_000, 20_000, 40_000, 80_000, 160_000],
        ramp_refine=0 if quick else 2,
        open_start="09:29:50" if quick else "09:29:30",
        open_after=args.open_seconds or (30 if quick else 90),
        compare_budget=15 if quick else 45,
        latency_rate=args.latency_rate,
        scale_rate=args.scale_rate or (10_000 if quick else 40_000),
        sim_start=args.sim_start,
        restart_gap=args.restart_gap or (15 if quick else 30),
        hostile_rate=args.hostile_rate,
        latency_seconds=20 if quick else 60,
        workroot=workroot,
        redis_cluster=args.redis_cluster,
        replicas=args.replicas,
        day=day.DayPlan(
            date=args.day_date,
            # --quick: the close, the night and the switch only (a CI-sized run)
            start="19:30:00" if quick else "03:59:30",
            speed=args.day_speed or (900 if quick else 120),
            activity=args.day_activity,
            next_day_minutes=180 if quick else 30,
            compare_budget=10 if quick else 30,
            workroot=workroot,
        ),
    )


def main(argv: list[str]) -> int:
    args = parse_args(argv)
    out_dir = Path(args.out)
    out_dir.mkdir(parents=True, exist_ok=True)
    workroot = Path(tempfile.mkdtemp(prefix="stampede-bench-"))
    plan = make_plan(args, workroot)
    started = datetime.now().astimezone()
    results: Doc = {
        "started": started.isoformat(timespec="seconds"),
        "argv": ["stampede", "bench", *argv],
        "quick": args.quick,
        "machine": machine(),
        "note": "simulator, bridge, NATS, dispatch, the functions, Redis, gateway and this "
        "benchmark share the machine's CPUs; cpu_percent is % of one core per process",
    }
    chosen = SCENARIOS if args.scenario == "all" else (args.scenario,)
    try:
        for name in chosen:
            try:
                results[name] = RUNNERS[name](plan)
            except (RuntimeError, TimeoutError, httpx.HTTPError) as exc:  # did not come up / answer
                print(
                    f"stampede bench: {name} failed: {exc} (logs kept under {workroot})",
                    file=sys.stderr,
                )
                results.setdefault("errors", {})[name] = str(exc)
    except KeyboardInterrupt:
        print("interrupted; writing what was measured", file=sys.stderr)
    if "errors" not in results:
        shutil.rmtree(workroot, ignore_errors=True)
    results["finished"] = datetime.now().astimezone().isoformat(timespec="seconds")
    results["machine"]["speed_probe_ms_at_end"] = speed_probe_ms()
    path = out_dir / f"{started.strftime('%Y%m%dT%H%M%S')}.json"
    path.write_text(json.dumps(results, indent=1))
    print()
    print(report(results))
    print(f"\nresults: {path}")
    return 1 if "errors" in results else 0
