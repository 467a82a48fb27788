"""The benchmark's scenarios, each on a fresh pipeline: steady load, the ramp, the open,
exchange->client latency at a fixed load on a live clock, the scale ladder, and restarts
(hostile clients beside an honest one: ``hostile.py``).

Load runs use the simulator's load mode in one of its two shapes (``uniform``: every visit a
different symbol, the adversarial case; ``market``: the market model's heavy tail, as on a real
tape); every result carries the strict held verdict and the old one beside it.
"""

from __future__ import annotations

import dataclasses
import shutil
import tempfile
import time
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path

import httpx

from stampede.functions import FUNCTIONS
from stampede.markettime import ET
from stampede.tools.bench import ceiling, verdict
from stampede.tools.bench.day import DayPlan
from stampede.tools.bench.figures import (
    news_history_caught_up,
    per_second,
    stale_between,
    window_figures,
)
from stampede.tools.bench.probes import HOLD_CLOCK, BoardClient, Sampler, pipeline
from stampede.tools.bench.truth import compare_with_truth
from stampede.tools.bench.verdict import Doc

SHAPES = ("uniform", "market")


@dataclass
class Plan:
    shapes: list[str]
    rates: list[int]
    seconds: float
    warmup: float
    ramp_seconds: float
    ramp_rates: list[int]
    ramp_refine: int
    open_start: str
    open_after: float
    compare_budget: float
    latency_rate: int
    latency_seconds: float
    workroot: Path
    day: DayPlan
    redis_cluster: int = 1  # Redis primaries of every load and open pipeline (1: one server)
    replicas: dict[str, int] = field(default_factory=dict)  # processes per function
    scale_rate: int = 40_000  # the load every rung of the scale ladder offers
    # The simulated ET time load runs start at: fixed, so a verdict does not depend on when
    # the bench runs (the news and reference data to catch up grow through the day).
    sim_start: str = "13:00:00"
    restart_rate: int = 10_000  # the market load the restart scenario runs under
    restart_gap: float = 30.0  # seconds between one part's restart and the next
    hostile_rate: int = 20_000  # the market load the hostile scenario (hostile.py) runs under

    @property
    def store_argv(self) -> list[str]:
        """The ``stampede up`` arguments of the Redis and the function replicas this plan
        measures."""
        argv = ["--redis-cluster", str(self.redis_cluster)] if self.redis_cluster > 1 else []
        counts = ",".join(f"{name}={n}" for name, n in self.replicas.items())
        return argv + (["--replicas", counts] if counts else [])


def load_run(
    plan: Plan, rate_: int, shape: str, seconds: float, label: str, start: str | None = None
) -> Doc:
    """One fresh pipeline at a fixed simulator rate and shape: warm up, then measure. The
    simulated day starts at ``start`` ET (default ``plan.sim_start``; "now": the wall clock)."""
    workdir = Path(tempfile.mkdtemp(prefix=f"{label}-{shape}-{rate_}-", dir=plan.workroot))
    sim_start = start or plan.sim_start
    print(
        f"[{label}] {rate_:,} events/s {shape} from {sim_start} ET: starting the pipeline...",
        flush=True,
    )
    up_argv = ["--start", sim_start, "--rate", str(rate_), "--shape", shape, *plan.store_argv]
    with pipeline(workdir, up_argv) as running:
        offset = running.clock_offset_ms()
        with (
            BoardClient(running.status["gateway"], clock_offset_ms=offset) as client,
            Sampler(running.status) as sampler,
        ):
            time.sleep(plan.warmup)
            client.reset()
            began = time.monotonic()
            time.sleep(seconds)
            samples = sampler.since(began - 0.5)
    figures = window_figures(samples, offered=rate_)
    figures["shape"] = shape
    figures["sim_start"] = sim_start
    figures["store"] = {"redis_primaries": plan.redis_cluster, "replicas": plan.replicas}
    # the dispatcher labels a replica by its subscriber URL, which ends in "/"
    process_of = {url.rstrip("/"): name for name, url in running.status["services"].items()}
    figures["deliveries_per_s_by_process"] = {
        process_of.get(url.rstrip("/"), url): rate
        for url, rate in figures["deliveries_per_s_by_url"].items()
    }
    figures["client"] = client.summary()
    shutil.rmtree(workdir, ignore_errors=True)
    t = figures["throughput_per_s"]
    print(
        f"[{label}] {rate_:,}/s {shape}: applied {t['functions_applied']:,.0f}/s, tail p99 "
        f"{figures['tail_board_write_p99_s']}, held strict={figures['strict']['held']} "
        f"old={figures['old']['held']}",
        flush=True,
    )
    return figures


def steady(plan: Plan) -> list[Doc]:
    return [
        load_run(plan, r, shape, plan.seconds, "steady")
        for shape in plan.shapes
        for r in plan.rates
    ]


def ramp(plan: Plan) -> Doc:
    """Per shape: rates rise until one is not held (strictly), then bisect between the last two."""
    return {shape: ramp_shape(plan, shape) for shape in plan.shapes}


def ramp_shape(plan: Plan, shape: str) -> Doc:
    steps: list[Doc] = []
    best, failed = None, None
    for r in plan.ramp_rates:
        figures = load_run(plan, r, shape, plan.ramp_seconds, "ramp")
        steps.append(figures)
        if not figures["held"]:
            failed = r
            break
        best = r
    for _ in range(plan.ramp_refine):
        if failed is None:
            break
        low = best or 0
        middle = int(round((low + failed) / 2, -3))
        if middle in (low, failed):
            break
        figures = load_run(plan, middle, shape, plan.ramp_seconds, "ramp")
        steps.append(figures)
        if figures["held"]:
            best = middle
        else:
            failed = middle
    old_held = [s["offered_events_per_s"] for s in steps if s["old"]["held"]]
    at_best = next((s for s in steps if s["offered_events_per_s"] == best), None)
    return {
        "shape": shape,
        "window_seconds": plan.ramp_seconds,
        "highest_held_events_per_s": best,
        "lowest_not_held_events_per_s": failed,
        "highest_held_old_definition": max(old_held, default=None),
        "cpu_percent_at_highest_held": at_best["cpu_percent"] if at_best else None,
        "steps": steps,
    }


def open_burst(plan: Plan) -> Doc:
    """The simulated open (seed 7): one row per second for ``open_after`` s after 09:30, the
    every-second p99 target from 09:30:05, then the boards compared with the truth."""
    workdir = Path(tempfile.mkdtemp(prefix="open-", dir=plan.workroot))
    print(
        f"[open] simulated market from {plan.open_start} ET: starting the pipeline...", flush=True
    )
    up_argv = ["--start", plan.open_start, "--speed", "1", "--seed", "7", *plan.store_argv]
    # The clock waits until the pipeline is up (loading reference data takes a while), so the
    # measured pre-open is the same whatever the start-up took.
    with (
        pipeline(workdir, up_argv, HOLD_CLOCK) as running,
        BoardClient(running.status["gateway"]) as client,
        Sampler(running.status) as sampler,
    ):
        running.start_clock()
        clock = httpx.get(f"{running.sim}/_sim/clock", timeout=5).json()
        sim_now = datetime.fromtimestamp(clock["sim_ms"] / 1000, ET)
        open_ms = sim_now.replace(hour=9, minute=30, second=0, microsecond=0).timestamp() * 1000
        wall_to_open = (open_ms - clock["sim_ms"]) / 1000 / clock["speed"]
        open_at = time.monotonic() + wall_to_open
        print(
            f"[open] 09:30 ET in {wall_to_open:.0f}s; measuring {plan.open_after:.0f}s after it",
            flush=True,
        )
        time.sleep(max(0.0, wall_to_open + plan.open_after))
        samples = list(sampler.samples)
        boards = compare_with_truth(running.status, running.sim, budget=plan.compare_budget)
    shutil.rmtree(workdir, ignore_errors=True)
    pre = [s for s in samples if s.at <= open_at]
    post = [s for s in samples if open_at - 1 <= s.at <= open_at + plan.open_after + 0.5]
    timeline = per_second(samples, open_at)
    target = verdict.open_verdict(timeline)
    result = {
        "start": plan.open_start,
        "seconds_after_open": plan.open_after,
        "pre_open": window_figures(pre) if len(pre) > 1 else None,
        "after_open": window_figures(post) if len(post) > 1 else None,
        "timeline": timeline,
        "peak_offered_per_s": max((p["offered"] for p in timeline), default=0),
        "peak_board_write_p99_s": max((p["board_write_p99"] or 0 for p in timeline), default=0),
        "lag_under_1s_after_open_s": verdict.recovery_seconds(timeline),
        "target_p99_under_1s_from_0930_05": target,
        "stale_shed_cloudevents": stale_between(post[0].metrics, post[-1].metrics)
        if len(post) > 1
        else None,
        "boards_vs_truth": boards,
        "client": client.summary(),
    }
    print(
        f"[open] peak {result['peak_offered_per_s']:,.0f} events/s offered, board_write p99 peak "
        f"{result['peak_board_write_p99_s']:.2f}s, p99 < 1 s from 09:30:05: {target['held']}, "
        f"boards match: {boards['all_match']}",
        flush=True,
    )
    return result


def exchange_latency(plan: Plan) -> list[Doc]:
    """Exchange->client latency of the boards at ``latency_rate`` on a live clock (speed 1,
    today's time), the client correcting for any offset of the simulated day from the wall."""
    runs = []
    for shape in plan.shapes:
        figures = load_run(
            plan, plan.latency_rate, shape, plan.latency_seconds, "latency", start="now"
        )
        runs.append(figures)
    return runs


LADDER_REPLICAS = (1, 2, 4)
LADDER_PRIMARIES = (1, 3)


def scale(plan: Plan) -> dict[str, list[Doc]]:
    """The scale ladder, per shape: the same load with 1, 2 and 4 processes of the busiest
    function (the one using the most CPU in the first rung) on 1 and on 3 Redis primaries."""
    out: dict[str, list[Doc]] = {}
    for shape in plan.shapes:
        base = dataclasses.replace(plan, redis_cluster=1, replicas={})
        first = load_run(base, plan.scale_rate, shape, plan.seconds, "scale")
        busiest = ceiling.busiest_function(first["cpu_percent"])
        print(f"[scale] {shape}: the busiest function is {busiest}", flush=True)
        rungs = [first]
        for primaries in LADDER_PRIMARIES:
            for n in LADDER_REPLICAS:
                if (primaries, n) == (1, 1):
                    continue
                rung = dataclasses.replace(plan, redis_cluster=primaries, replicas={busiest: n})
                rungs.append(load_run(rung, plan.scale_rate, shape, plan.seconds, "scale"))
        out[shape] = rungs
    return out


def restart(plan: Plan) -> Doc:
    """A midday start under a steady market load, then the bridge and each function restarted
    one at a time (stopped with SIGTERM, started again, as a rollout or a crash would): the
    live board-write p99 second by second and each part's catch-up time."""
    workdir = Path(tempfile.mkdtemp(prefix="restart-", dir=plan.workroot))
    rate_ = plan.restart_rate
    print(
        f"[restart] {rate_:,} events/s market from {plan.sim_start} ET: starting the pipeline...",
        flush=True,
    )
    up_argv = ["--start", plan.sim_start, "--rate", str(rate_), "--shape", "market"]
    with pipeline(workdir, [*up_argv, *plan.store_argv]) as running:
        offset = running.clock_offset_ms()
        with (
            BoardClient(running.status["gateway"], clock_offset_ms=offset),
            Sampler(running.status) as sampler,
        ):
            zero = time.monotonic()  # up and ready: the start's own catch-up begins
            restarts: list[tuple[str, float]] = [("start", 0.0)]
            time.sleep(plan.restart_gap)
            components = {c.name: c for c in running.scanner.components}
            for part in ["bridge", *(f"function-{name}" for name in FUNCTIONS)]:
                component = components[part]
                restarts.append((part, time.monotonic() - zero))
                print(f"[restart] {part}", flush=True)
                component.stop()
                component.launch()
                component.wait_ready(120)
                time.sleep(plan.restart_gap)
            end = time.monotonic() - zero
            samples = list(sampler.samples)
    shutil.rmtree(workdir, ignore_errors=True)
    timeline = per_second(samples, zero)
    news_caught_up = news_history_caught_up(samples, zero)
    parts = verdict.restart_verdicts(timeline, restarts, end)
    for p in parts:
        print(
            f"[restart] {p['part']}: caught up after {p['caught_up_s']} s, held {p['held']}",
            flush=True,
        )
    return {
        "rate": rate_,
        "sim_start": plan.sim_start,
        "gap_seconds": plan.restart_gap,
        "news_history_caught_up_s": news_caught_up,
        "parts": parts,
        "held": all(p["held"] for p in parts),
        "timeline": timeline,
    }
