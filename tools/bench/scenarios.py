"""The benchmark's scenarios, each on a fresh pipeline: steady load, the ramp, the open,
exchange->client latency at a fixed load on a live clock, the scale ladder, restarts, and
hostile clients beside an honest one.

Load runs use the simulator's load mode in one of its two shapes (``uniform``: every visit a
different symbol, the adversarial case; ``market``: the market model's heavy tail, as on a real
tape); every result carries the strict held verdict and the old one beside it.
"""

from __future__ import annotations

import contextlib
import dataclasses
import json
import secrets
import shutil
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path

import httpx
import psutil
import redis

from stampede import keys
from stampede.functions import FUNCTIONS
from stampede.gateway.settings import GatewaySettings
from stampede.markettime import ET
from stampede.tools.bench import attack, ceiling, verdict
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
from stampede.tools.promscrape import Snapshot

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
    hostile_rate: int = 20_000  # the market load the hostile scenario runs under

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


def hostile(plan: Plan) -> Doc:
    """Issue 25's attack: the steady market load (``--hostile-rate``) with one honest dashboard
    client, measured for ``seconds`` without attackers and then for ``seconds`` with them
    (``attack.py``, a process of its own: 50 never-reading flooders, 1,000 slow-header
    connections, a storm of 5,000 unauthenticated connections, 1,000 forged events/s). The
    gateway requires a token here, as on a public address; the honest client sends it first."""
    workdir = Path(tempfile.mkdtemp(prefix="hostile-", dir=plan.workroot))
    rate_ = plan.hostile_rate
    token = secrets.token_urlsafe(24)
    print(f"[hostile] {rate_:,} events/s market: starting the pipeline...", flush=True)
    up_argv = ["--start", plan.sim_start, "--rate", str(rate_), "--shape", "market"]
    with pipeline(workdir, [*up_argv, *plan.store_argv], env={"GATEWAY_TOKEN": token}) as running:
        status = running.status
        gateway_status = str(status["gateway_metrics"])
        offset = running.clock_offset_ms()
        with BoardClient(status["gateway"], clock_offset_ms=offset, token=token) as client:
            time.sleep(plan.warmup)
            client.reset()
            time.sleep(plan.seconds)
            calm = client.summary()
            print("[hostile] attacking...", flush=True)
            client.reset()
            attacker = subprocess.Popen(
                [
                    *(sys.executable, "-m", "stampede.tools.bench.attack"),
                    *("--gateway", str(status["gateway"]), "--token", token),
                    *("--function", str(status["services"]["function-movers"]) + "/"),
                    *("--seconds", str(plan.seconds)),
                ],
                stdout=subprocess.PIPE,
                text=True,
            )
            gateway = psutil.Process(status["pids"]["gateway"])
            attacker_cpu0 = psutil.Process(attacker.pid).cpu_times()
            began = time.monotonic()
            rss_max = admitted_max = 0.0
            attacker_cpu = 0.0
            while attacker.poll() is None:
                with contextlib.suppress(psutil.Error):
                    t = psutil.Process(attacker.pid).cpu_times()
                    attacker_cpu = t.user + t.system - attacker_cpu0.user - attacker_cpu0.system
                with contextlib.suppress(psutil.Error):
                    rss_max = max(rss_max, gateway.memory_info().rss / 2**20)
                with contextlib.suppress(httpx.HTTPError):
                    page = Snapshot.parse(httpx.get(gateway_status, timeout=2).text)
                    admitted_max = max(
                        admitted_max, page.value("stampede_gateway_admitted_connections_peak")
                    )
                time.sleep(0.25)
            attacked = client.summary()
            attack = json.loads(attacker.communicate()[0])
            attack["attacker_cpu_percent"] = round(100 * attacker_cpu / (time.monotonic() - began))
        gateway_page = Snapshot.parse(httpx.get(gateway_status, timeout=5).text)
        movers_page = Snapshot.parse(
            httpx.get(str(status["metrics"]["function-movers"]), timeout=5).text
        )
        forged_shown = forged_on_boards(str(status["redis"]))
    # how long the clients the gateway cut off had lasted, as it measured them (the attacker's
    # own view is late when its loop is busy with the storm)
    lasted = gateway_page.buckets("stampede_gateway_client_dropped_after_seconds")
    cut = lasted[-1][1] if lasted else 0.0
    attack["flooders"]["gateway_cut"] = int(cut)
    attack["flooders"]["gateway_cut_within_s"] = (
        next(le for le, n in lasted if n >= cut) if cut else None
    )
    shutil.rmtree(workdir, ignore_errors=True)
    cap = GatewaySettings(gateway_auth="off").gateway_max_clients
    calm_p99, attacked_p99 = market_p99(calm), market_p99(attacked)
    # the verdict is on the writer whose boards suffered most: each against itself calm
    worst = worst_writer(calm, attacked)
    held = verdict.hostile_verdict(
        calm_p99.get(worst) if worst else None,
        attacked_p99.get(worst) if worst else None,
        rss_max,
        attack,
        int(admitted_max),
        cap,
        forged_shown,
    )
    print(f"[hostile] held {held.held} {list(held.why_not)}", flush=True)
    return {
        "rate": rate_,
        "seconds": plan.seconds,
        "honest_p99_ms": {"calm": calm_p99, "attacked": attacked_p99, "worst_writer": worst},
        "honest_client": {"calm": calm, "attacked": attacked},
        "gateway_rss_mb_max": round(rss_max, 1),
        "admitted_max": int(admitted_max),
        "cap": cap,
        "attack": attack,
        "refused": {
            "gateway_dropped": gateway_page.by("stampede_gateway_clients_dropped_total", "reason"),
            "gateway_errors": gateway_page.by("stampede_gateway_client_errors_total", "code"),
            "function_dropped": movers_page.by("stampede_function_dropped_total", "reason"),
        },
        "forged_on_boards": forged_shown,
        "verdict": held.as_json(),
    }


MARKET_WRITERS = ("momentum", "movers")  # trade-driven and bar-driven boards


def market_p99(summary: Doc) -> dict[str, float]:
    """The honest client's exchange->client p99 of each market writer's boards."""
    by_writer = summary["exchange_to_client_ms"]
    return {w: by_writer[w]["p99"] for w in MARKET_WRITERS if by_writer.get(w, {}).get("n")}


def worst_writer(calm: Doc, attacked: Doc) -> str | None:
    """The market writer whose p99 grew the most under attack (None: no measure)."""
    before, after = market_p99(calm), market_p99(attacked)
    common = [w for w in MARKET_WRITERS if before.get(w) and w in after]
    return max(common, key=lambda w: after[w] / before[w]) if common else None


def forged_on_boards(redis_url: str) -> int:
    """Members of any board that name a forged symbol (``attack.FORGED_PREFIX``)."""
    client = redis.Redis.from_url(redis_url, decode_responses=True)
    try:
        shown = 0
        for key in client.scan_iter(match=keys.BOARD_PATTERN, count=1000):
            members: list[str] = client.zrange(key, 0, -1)  # type: ignore[assignment]
            shown += sum(1 for m in members if str(m).startswith(attack.FORGED_PREFIX))
        return shown
    finally:
        client.close()
