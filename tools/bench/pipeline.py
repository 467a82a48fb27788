"""`stampede bench`: the whole local pipeline under load, measured stage by stage.

Each run starts a fresh ``stampede up`` (every component its own process on private NATS and
Redis), keeps one WebSocket client subscribed to every board on the gateway, scrapes every
component's ``/metrics`` once a second and samples CPU and memory of every process (psutil on
the pids of status.json). Scenarios:

- **steady**: the simulator's load mode (``--rate N``: A bars and trades over 8,000+ tickers) at
  fixed rates; per rate the sustained throughput of each stage, end-to-end latency percentiles,
  drops by reason, consumer lag and CPU/memory per process.
- **ramp**: load mode at rising rates (doubling, then bisecting between the last rate held and
  the first one not held); a rate is *held* when the functions apply >= 95 % of it, the
  pipeline p50 at the board write stays under 1 s in the last third of the window and nothing
  is shed as stale. Reports the highest rate held for the whole window.
- **open**: the simulated market from 09:29:30 (quiet pre-market, then the opening burst):
  per-second rates and lag, time from 09:30 until the board-write p99 is back under 1 s for
  good, stale CloudEvents shed, and afterwards the boards compared with ``/_sim/truth``.

Results: a table on stdout and ``<out>/<timestamp>.json``. Everything shares this machine's
cores, so CPU per process is part of every result.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import math
import os
import platform
import shutil
import sys
import tempfile
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import datetime
from itertools import pairwise
from pathlib import Path
from typing import Self
from zoneinfo import ZoneInfo

import httpx
import psutil
import websockets

from stampede import metricnames as names
from stampede.boards import BOARDS, BOARDS_BY_NAME
from stampede.tools import localstack, up
from stampede.tools.promscrape import (
    Snapshot,
    bucket_increase,
    histogram_quantile,
    rate,
    rates_by,
    scrape_all,
)
from stampede.tools.top import DROPS

ET = ZoneInfo("America/New_York")
PIPELINE = names.PIPELINE_LATENCY
EXCHANGE = names.EXCHANGE_LATENCY
LATENCY_STAGES = tuple(stage.value for stage in names.Stage)
# Throughput per stage: (key, counter, fixed labels). Events except where the name says otherwise.
THROUGHPUT = (
    ("sim_sent", names.SIM_EVENTS_SENT, {}),
    ("bridge_in", names.BRIDGE_EVENTS, {}),
    ("bridge_published", names.BRIDGE_PUBLISHED_EVENTS, {}),
    ("bridge_cloudevents", names.BRIDGE_CLOUDEVENTS_PUBLISHED, {}),
    ("dispatch_delivered_cloudevents", names.DISPATCH_DELIVERIES, {"outcome": "ack"}),
    ("functions_applied", names.FUNCTION_EVENTS_APPLIED, {}),
    ("functions_applied_cloudevents", names.FUNCTION_BATCHES, {"outcome": "applied"}),
    ("gateway_ticks", names.GATEWAY_TICKS, {}),
    ("gateway_diffs", names.GATEWAY_DIFFS_SENT, {}),
)
HELD_APPLIED_RATIO = 0.95
HELD_LAG_SECONDS = 1.0


# ---------------------------------------------------------------- running the pipeline


@contextlib.contextmanager
def pipeline(workdir: Path, up_argv: list[str]) -> Iterator[dict]:
    """A fresh ``stampede up`` (in this process, as its own children); yields status.json."""
    # An explicit free port: another scanner on this machine may hold the usual 8765.
    port = str(localstack.free_port())
    args = up.parse_args(["--workdir", str(workdir), "--port", port, *up_argv])
    scanner = up.Scanner(args)
    try:
        yield scanner.start()
    finally:
        scanner.stop()


class BoardClient:
    """One WebSocket client subscribed to every board; measures what it receives.

    Diffs carry the board's newest exchange time and bridge-read time, so the client's own
    receive time gives exchange->client and bridge->client latency as a browser would see it.
    """

    def __init__(self, gateway_url: str, limit: int = 20) -> None:
        self.url = gateway_url.replace("http://", "ws://") + "/ws"
        self.limit = limit
        self.counts: dict[str, int] = {}
        self.exchange_ms: dict[str, list[float]] = {}  # by the function writing the board
        self.pipeline_ms: dict[str, list[float]] = {}
        self.error: str | None = None
        self._stop = threading.Event()
        self._thread = threading.Thread(target=lambda: asyncio.run(self._run()), daemon=True)

    def __enter__(self) -> Self:
        self._thread.start()
        return self

    def __exit__(self, *_: object) -> None:
        self._stop.set()
        self._thread.join(10)

    def reset(self) -> None:
        self.counts, self.exchange_ms, self.pipeline_ms = {}, {}, {}

    async def _run(self) -> None:
        try:
            async with websockets.connect(self.url, max_size=None) as ws:
                for board in BOARDS:
                    await ws.send(
                        json.dumps(
                            {
                                "type": "subscribe",
                                "id": board.name,
                                "board": board.name,
                                "limit": self.limit,
                            }
                        )
                    )
                while not self._stop.is_set():
                    try:
                        raw = await asyncio.wait_for(ws.recv(), 0.5)
                    except TimeoutError:
                        continue
                    self._record(json.loads(raw), time.time() * 1000)
        except (OSError, websockets.WebSocketException) as exc:
            self.error = f"{type(exc).__name__}: {exc}"

    def _record(self, message: dict, now_ms: float) -> None:
        kind = message.get("type", "?")
        self.counts[kind] = self.counts.get(kind, 0) + 1
        if kind != "diff" or message.get("board") not in BOARDS_BY_NAME:
            return
        writer = BOARDS_BY_NAME[message["board"]].function
        if message.get("exchange_ms"):
            self.exchange_ms.setdefault(writer, []).append(now_ms - message["exchange_ms"])
        if message.get("received_ms"):
            self.pipeline_ms.setdefault(writer, []).append(now_ms - message["received_ms"])

    def summary(self) -> dict:
        return {
            "messages": dict(self.counts),
            "exchange_to_client_ms": {k: _percentiles(v) for k, v in self.exchange_ms.items()},
            "bridge_to_client_ms": {k: _percentiles(v) for k, v in self.pipeline_ms.items()},
            "error": self.error,
        }


@dataclass
class Sample:
    at: float
    metrics: Snapshot
    cpu_seconds: dict[str, float]
    rss_bytes: dict[str, float]
    errors: dict[str, str]


@dataclass
class Sampler:
    """Scrapes every component and reads CPU/memory of every process, once per ``interval``."""

    status: dict
    interval: float = 1.0
    samples: list[Sample] = field(default_factory=list)

    def __post_init__(self) -> None:
        pids = {**self.status["pids"], "bench": os.getpid()}
        self._procs = {name: psutil.Process(pid) for name, pid in pids.items()}
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._loop, daemon=True)

    def __enter__(self) -> Self:
        self._thread.start()
        return self

    def __exit__(self, *_: object) -> None:
        self._stop.set()
        self._thread.join(10)

    def _usage(self) -> tuple[dict[str, float], dict[str, float]]:
        cpu, rss = {}, {}
        for name, proc in self._procs.items():
            with contextlib.suppress(psutil.Error):
                family = [proc, *proc.children(recursive=True)] if name != "bench" else [proc]
                times = [p.cpu_times() for p in family]
                cpu[name] = sum(t.user + t.system for t in times)
                rss[name] = sum(p.memory_info().rss for p in family)
        return cpu, rss

    def _loop(self) -> None:
        with httpx.Client() as client:
            while not self._stop.is_set():
                started = time.monotonic()
                scraped = scrape_all(
                    self.status["metrics"], timeout=max(0.5, self.interval), client=client
                )
                cpu, rss = self._usage()
                self.samples.append(
                    Sample(time.monotonic(), scraped.merged, cpu, rss, scraped.errors)
                )
                self._stop.wait(max(0.0, self.interval - (time.monotonic() - started)))

    def since(self, start: float) -> list[Sample]:
        return [s for s in self.samples if s.at >= start]


# ---------------------------------------------------------------- figures from samples


def _percentiles(values: list[float]) -> dict[str, float | int | None]:
    if not values:
        return {"n": 0, "p50": None, "p95": None, "p99": None}
    ordered = sorted(values)

    def pick(q):
        return round(ordered[min(len(ordered) - 1, int(q * len(ordered)))], 1)

    return {"n": len(ordered), "p50": pick(0.5), "p95": pick(0.95), "p99": pick(0.99)}


def latency(
    first: Snapshot, last: Snapshot, histogram: str, **match: str
) -> dict[str, float | None]:
    """p50/p95/p99 (seconds) and count of the observations made between two snapshots."""
    recent = bucket_increase(first.buckets(histogram, **match), last.buckets(histogram, **match))
    count = recent[-1][1] if recent else 0.0
    out: dict[str, float | None] = {"n": count}
    for q in (0.5, 0.95, 0.99):
        value = histogram_quantile(q, recent) if count else None
        out[f"p{round(q * 100)}"] = None if value is None else round(value, 4)
    return out


def window_figures(samples: list[Sample], offered: float | None = None) -> dict:
    """Throughput, latency, drops, lag and resources over a run of samples (oldest first)."""
    first, last = samples[0], samples[-1]
    a, b = first.metrics, last.metrics
    elapsed = last.at - first.at
    figures: dict = {"seconds": round(elapsed, 1), "offered_events_per_s": offered}
    figures["throughput_per_s"] = {
        key: round(rate(a, b, counter, **labels), 1) for key, counter, labels in THROUGHPUT
    }
    figures["applied_per_s_by_function"] = {
        k: round(v, 1) for k, v in rates_by(a, b, names.FUNCTION_EVENTS_APPLIED, "function").items()
    }
    figures["latency_s"] = {
        kind: {
            stage: latency(a, b, hist, stage=stage)
            for stage in LATENCY_STAGES
            if b.series(f"{hist}_count", stage=stage)
        }
        for kind, hist in (("pipeline", PIPELINE), ("exchange", EXCHANGE))
    }
    figures["latency_s"]["redis_apply"] = {
        fn: latency(a, b, names.FUNCTION_REDIS_APPLY, function=fn)
        for fn in b.by("stampede_function_redis_apply_duration_seconds_count", "function")
    }
    figures["latency_s"]["dispatch_http"] = {
        trig: latency(a, b, "http_client_request_duration_seconds", trigger=trig)
        for trig in b.by("http_client_request_duration_seconds_count", "trigger")
    }
    drops: dict[str, dict[str, float]] = {}
    for title, counter, label, match in DROPS:
        before, after = a.by(counter, label, **dict(match)), b.by(counter, label, **dict(match))
        grown = {k: v - before.get(k, 0.0) for k, v in after.items() if v - before.get(k, 0.0) > 0}
        if grown:
            drops[title] = grown
    figures["drops"] = drops
    figures["lag"] = {
        "consumer_pending_end": b.by(names.DISPATCH_CONSUMER_PENDING, "trigger"),
        "consumer_pending_max": _max_by(samples, names.DISPATCH_CONSUMER_PENDING, "trigger"),
        "bridge_queue_frames_max": max(s.metrics.value(names.BRIDGE_QUEUE_DEPTH) for s in samples),
    }
    figures["cpu_percent"] = {
        name: round((last.cpu_seconds[name] - first.cpu_seconds.get(name, 0.0)) / elapsed * 100, 1)
        for name in last.cpu_seconds
        if elapsed > 0
    }
    figures["cpu_percent_total"] = round(sum(figures["cpu_percent"].values()), 1)
    figures["rss_mb_max"] = {
        name: round(max(s.rss_bytes.get(name, 0.0) for s in samples) / 2**20, 1)
        for name in last.rss_bytes
    }
    tail = [s for s in samples if s.at >= last.at - elapsed / 3]
    figures["tail_board_write_p50_s"] = latency(
        tail[0].metrics, b, PIPELINE, stage=names.Stage.BOARD_WRITE.value
    )["p50"]
    figures["scrape_errors"] = sorted({k for s in samples for k in s.errors})
    return figures


def _max_by(samples: list[Sample], gauge: str, label: str) -> dict[str, float]:
    out: dict[str, float] = {}
    for s in samples:
        for key, value in s.metrics.by(gauge, label).items():
            out[key] = max(out.get(key, 0.0), value)
    return out


def held(figures: dict) -> bool:
    """Did the pipeline keep up with the offered rate for the whole window?"""
    offered = figures["offered_events_per_s"] or 0
    applied = figures["throughput_per_s"]["functions_applied"]
    tail_p50 = figures["tail_board_write_p50_s"]
    stale = figures["drops"].get("function CloudEvents", {}).get("stale", 0)
    return (
        applied >= HELD_APPLIED_RATIO * offered
        and tail_p50 is not None
        and tail_p50 < HELD_LAG_SECONDS
        and not stale
    )


# ---------------------------------------------------------------- scenarios


@dataclass
class Plan:
    rates: list[int]
    seconds: float
    warmup: float
    ramp_seconds: float
    ramp_rates: list[int]
    ramp_refine: int
    open_start: str
    open_after: float
    compare_budget: float
    workroot: Path


def load_run(plan: Plan, rate_: int, seconds: float, label: str) -> dict:
    """One fresh pipeline at a fixed simulator rate: warm up, then measure ``seconds``."""
    workdir = Path(tempfile.mkdtemp(prefix=f"{label}-{rate_}-", dir=plan.workroot))
    print(f"[{label}] {rate_:,} events/s: starting the pipeline...", flush=True)
    with (
        pipeline(workdir, ["--start", "now", "--rate", str(rate_)]) as status,
        BoardClient(status["gateway"]) as client,
        Sampler(status) as sampler,
    ):
        time.sleep(plan.warmup)
        client.reset()
        start = time.monotonic()
        time.sleep(seconds)
        samples = sampler.since(start - 0.5)
    figures = window_figures(samples, offered=rate_)
    figures["client"] = client.summary()
    figures["held"] = held(figures)
    shutil.rmtree(workdir, ignore_errors=True)
    t = figures["throughput_per_s"]
    print(
        f"[{label}] {rate_:,}/s: applied {t['functions_applied']:,.0f}/s, board_write p50 "
        f"{_ms(figures['latency_s']['pipeline'].get('board_write', {}).get('p50'))}, held={figures['held']}",
        flush=True,
    )
    return figures


def steady(plan: Plan) -> list[dict]:
    return [load_run(plan, r, plan.seconds, "steady") for r in plan.rates]


def ramp(plan: Plan) -> dict:
    """Rates rise (listed steps) until one is not held, then bisect between the last two."""
    steps: list[dict] = []
    best, failed = None, None
    for r in plan.ramp_rates:
        figures = load_run(plan, r, plan.ramp_seconds, "ramp")
        steps.append(figures)
        if not figures["held"]:
            failed = r
            break
        best = r
    for _ in range(plan.ramp_refine if failed else 0):
        low = best or 0
        middle = int(round((low + failed) / 2, -3))
        if middle in (low, failed):
            break
        figures = load_run(plan, middle, plan.ramp_seconds, "ramp")
        steps.append(figures)
        if figures["held"]:
            best = middle
        else:
            failed = middle
    return {
        "window_seconds": plan.ramp_seconds,
        "highest_held_events_per_s": best,
        "lowest_not_held_events_per_s": failed,
        "steps": steps,
    }


def open_burst(plan: Plan) -> dict:
    """The simulated open: per-second lag, recovery time, stale drops, boards vs the truth."""
    workdir = Path(tempfile.mkdtemp(prefix="open-", dir=plan.workroot))
    print(
        f"[open] simulated market from {plan.open_start} ET: starting the pipeline...", flush=True
    )
    with (
        pipeline(workdir, ["--start", plan.open_start, "--speed", "1", "--seed", "7"]) as status,
        BoardClient(status["gateway"]) as client,
        Sampler(status) as sampler,
    ):
        sim = status["services"]["sim"]
        clock = httpx.get(f"{sim}/_sim/clock", timeout=5).json()
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
        boards = compare_with_truth(status, sim, budget=plan.compare_budget)
    shutil.rmtree(workdir, ignore_errors=True)
    pre = [s for s in samples if s.at <= open_at]
    post = [s for s in samples if s.at >= open_at - 1]
    timeline = per_second(samples, open_at)
    recovery = recovery_seconds(timeline)
    result = {
        "start": plan.open_start,
        "seconds_after_open": plan.open_after,
        "pre_open": window_figures(pre) if len(pre) > 1 else None,
        "after_open": window_figures(post) if len(post) > 1 else None,
        "timeline": timeline,
        "peak_bridge_in_per_s": max((p["bridge_in"] for p in timeline), default=0),
        "peak_board_write_p99_s": max((p["board_write_p99"] or 0 for p in timeline), default=0),
        "lag_under_1s_after_open_s": recovery,
        "stale_shed_cloudevents": (
            post[-1].metrics.value(names.FUNCTION_DROPPED, reason="stale")
            - post[0].metrics.value(names.FUNCTION_DROPPED, reason="stale")
        )
        if len(post) > 1
        else None,
        "boards_vs_truth": boards,
        "client": client.summary(),
    }
    print(
        f"[open] peak {result['peak_bridge_in_per_s']:,.0f} events/s in, board_write p99 peak "
        f"{result['peak_board_write_p99_s']:.2f}s, lag < 1s after {_after(recovery)}, boards match: "
        f"{boards['all_match']}",
        flush=True,
    )
    return result


def per_second(samples: list[Sample], zero: float) -> list[dict]:
    """Rates and lag of each scrape interval, timed from ``zero`` (the open)."""
    out = []
    for a, b in pairwise(samples):
        p = latency(a.metrics, b.metrics, PIPELINE, stage=names.Stage.BOARD_WRITE.value)
        out.append(
            {
                "t": round(b.at - zero, 1),
                "bridge_in": round(rate(a.metrics, b.metrics, names.BRIDGE_EVENTS)),
                "applied": round(rate(a.metrics, b.metrics, names.FUNCTION_EVENTS_APPLIED)),
                "board_write_p50": p["p50"],
                "board_write_p99": p["p99"],
                "pending": sum(b.metrics.by(names.DISPATCH_CONSUMER_PENDING, "trigger").values()),
                "stale": b.metrics.value(names.FUNCTION_DROPPED, reason="stale")
                - a.metrics.value(names.FUNCTION_DROPPED, reason="stale"),
            }
        )
    return out


def recovery_seconds(timeline: list[dict]) -> float | None:
    """Seconds after the open until every later interval's board-write p99 is under 1 s."""
    after = [p for p in timeline if p["t"] > 0]
    if not after:
        return None
    recovered = None
    for p in after:
        late = p["board_write_p99"] is not None and p["board_write_p99"] >= HELD_LAG_SECONDS
        if late or p["stale"]:
            recovered = None
        elif recovered is None:
            recovered = max(0.0, p["t"] - 1)
    return recovered


def compare_with_truth(status: dict, sim: str, limit: int = 20, budget: float = 45.0) -> dict:
    """The gateway's boards (REST) against the simulator's truth, while the feed still runs.

    Bars go out once a second, so a truth that did not change around the board read is a
    consistent point to compare; the best such point within ``budget`` seconds is reported.
    Reads that fail or time out (a saturated Redis answers slowly) are counted, not fatal.
    """
    truth_boards = ("gainers", "losers", "gappers", "from_open", "volume")
    best: dict = {"all_match": False, "boards": {}, "consistent_points": 0, "read_errors": 0}
    deadline = time.monotonic() + budget
    with httpx.Client(timeout=10) as http:
        while time.monotonic() < deadline and not best["all_match"]:
            try:
                before = http.get(f"{sim}/_sim/truth", params={"limit": limit}).json()
                time.sleep(0.3)
                rows = {
                    name: http.get(
                        f"{status['gateway']}/api/boards/{name}", params={"limit": limit}
                    )
                    .json()
                    .get("rows", [])
                    for name in truth_boards
                }
                after = http.get(f"{sim}/_sim/truth", params={"limit": limit}).json()
            except (httpx.HTTPError, ValueError):
                best["read_errors"] += 1
                continue
            if before["updated_ms"] != after["updated_ms"]:
                continue
            best["consistent_points"] += 1
            result = {
                name: board_match(name, before["boards"][name], rows[name]) for name in truth_boards
            }
            matched = sum(r["matching"] for r in result.values())
            if matched >= sum(r["matching"] for r in best["boards"].values()):
                best["boards"] = result
                best["all_match"] = all(r["equal"] for r in result.values())
            time.sleep(0.2)
    return best


def board_match(name: str, truth: list[dict], rows: list[dict]) -> dict:
    """Same values in the same order; symbols compared except where values tie."""
    metric = BOARDS_BY_NAME[name].metric
    got = [(r.get("sym"), r.get(metric)) for r in rows]
    want = [(t["sym"], t["value"]) for t in truth]
    same = [
        w[1] is not None
        and g[1] is not None
        and math.isclose(w[1], g[1], rel_tol=1e-9, abs_tol=1e-6)
        and (w[0] == g[0] or [v for _, v in want].count(w[1]) > 1)
        for w, g in zip(want, got)
    ]
    return {"equal": len(got) == len(want) and all(same), "matching": sum(same), "rows": len(want)}


# ---------------------------------------------------------------- output


def _ms(seconds: float | None) -> str:
    return (
        "-"
        if seconds is None
        else (f"{seconds * 1000:.0f}ms" if seconds < 10 else f"{seconds:.1f}s")
    )


def _after(seconds: float | None) -> str:
    return "never (within the window)" if seconds is None else f"{seconds:.0f}s"


def _k(value: float) -> str:
    return f"{value / 1000:.1f}k" if value >= 1000 else f"{value:.0f}"


def load_table(runs: list[dict]) -> str:
    head = (
        f"{'offered':>8} {'bridge':>7} {'publ.':>7} {'disp CE':>7} {'applied':>8} {'diffs':>6} "
        f"{'write p50':>9} {'p95':>7} {'p99':>7} {'client p99':>10} {'exch p99':>8} {'held':>5}  top CPU"
    )
    lines = [head]
    for f in runs:
        t = f["throughput_per_s"]
        write = f["latency_s"]["pipeline"].get("board_write", {})
        send = f["latency_s"]["pipeline"].get("client_send", {})
        exch = f["latency_s"]["exchange"].get("client_send", {})
        cpu = sorted(f["cpu_percent"].items(), key=lambda kv: -kv[1])[:4]
        lines.append(
            f"{_k(f['offered_events_per_s']):>8} {_k(t['bridge_in']):>7} {_k(t['bridge_published']):>7} "
            f"{_k(t['dispatch_delivered_cloudevents']):>7} {_k(t['functions_applied']):>8} {_k(t['gateway_diffs']):>6} "
            f"{_ms(write.get('p50')):>9} {_ms(write.get('p95')):>7} {_ms(write.get('p99')):>7} "
            f"{_ms(send.get('p99')):>10} {_ms(exch.get('p99')):>8} {f['held']!s:>5}  "
            + " ".join(f"{n}={c:.0f}%" for n, c in cpu)
        )
        if f["drops"]:
            lines.append(
                f"{'':>8} drops: "
                + "; ".join(
                    f"{k}: " + ", ".join(f"{r}={v:.0f}" for r, v in d.items())
                    for k, d in f["drops"].items()
                )
            )
    return "\n".join(lines)


def report(results: dict) -> str:
    m = results["machine"]
    out = [
        (
            f"stampede bench  {results['started']}  {m['cpus']} CPUs ({m['cpu_model']}), "
            f"{m['memory_gb']} GB - every process shares them"
        )
    ]
    if "steady" in results:
        out += [
            "",
            "STEADY (simulator load mode; rates per second; latency from bridge read)",
            load_table(results["steady"]),
        ]
    if "ramp" in results:
        r = results["ramp"]
        out += [
            "",
            (
                f"RAMP ({r['window_seconds']:.0f}s per step): highest held "
                f"{r['highest_held_events_per_s']}, first not held {r['lowest_not_held_events_per_s']}"
            ),
            load_table(r["steps"]),
        ]
    if "open" in results:
        o = results["open"]
        out += [
            "",
            (
                f"OPEN (market from {o['start']} ET): peak {o['peak_bridge_in_per_s']:,.0f} events/s in, "
                f"board_write p99 peak {o['peak_board_write_p99_s']:.2f}s, lag < 1s "
                f"{_after(o['lag_under_1s_after_open_s'])} after 09:30, stale CloudEvents shed "
                f"{o['stale_shed_cloudevents']}, boards = truth: {o['boards_vs_truth']['all_match']}"
            ),
        ]
        out.append(
            f"{'t':>6} {'bridge in':>9} {'applied':>8} {'write p50':>9} {'p99':>7} {'pending':>8} {'stale':>6}"
        )
        for p in o["timeline"]:
            if p["t"] >= -5:
                out.append(
                    f"{p['t']:>6.0f} {_k(p['bridge_in']):>9} {_k(p['applied']):>8} "
                    f"{_ms(p['board_write_p50']):>9} {_ms(p['board_write_p99']):>7} "
                    f"{p['pending']:>8.0f} {p['stale']:>6.0f}"
                )
        if o["after_open"]:
            cpu = sorted(o["after_open"]["cpu_percent"].items(), key=lambda kv: -kv[1])
            out.append(
                "CPU after the open (% of one core): " + " ".join(f"{n}={c:.0f}%" for n, c in cpu)
            )
    return "\n".join(out)


def machine() -> dict:
    model = (
        next(
            (
                line.split(":", 1)[1].strip()
                for line in Path("/proc/cpuinfo").read_text().splitlines()
                if line.startswith("model name")
            ),
            platform.processor(),
        )
        if Path("/proc/cpuinfo").exists()
        else platform.processor()
    )
    return {
        "cpus": os.cpu_count(),
        "cpu_model": model,
        "memory_gb": round(psutil.virtual_memory().total / 2**30, 1),
        "python": platform.python_version(),
        "platform": platform.platform(),
    }


# ---------------------------------------------------------------- command line


def parse_args(argv: list[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="stampede bench",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--scenario", choices=("steady", "ramp", "open", "all"), default="all")
    parser.add_argument(
        "--rates",
        default=None,
        help="steady rates, events/s, comma-separated (default 1000,10000,50000,100000; "
        "--quick: 10000,50000)",
    )
    parser.add_argument(
        "--seconds",
        type=float,
        default=None,
        help="measured seconds per steady rate (default 30; --quick 10)",
    )
    parser.add_argument(
        "--ramp-seconds",
        type=float,
        default=None,
        help="seconds a ramp step must hold (default 60; --quick 10)",
    )
    parser.add_argument(
        "--quick", action="store_true", help="short windows for a smoke run (about 3 minutes)"
    )
    parser.add_argument(
        "--out",
        default="bench-results",
        help="directory for <timestamp>.json (default bench-results)",
    )
    return parser.parse_args(argv)


def make_plan(args: argparse.Namespace, workroot: Path) -> Plan:
    quick = args.quick
    rates = (
        [int(float(r)) for r in args.rates.split(",")]
        if args.rates
        else ([10_000, 50_000] if quick else [1_000, 10_000, 50_000, 100_000])
    )
    return Plan(
        rates=rates,
        seconds=args.seconds or (10 if quick else 30),
        warmup=3 if quick else 10,
        ramp_seconds=args.ramp_seconds or (10 if quick else 60),
        ramp_rates=[10_000, 25_000, 50_000] if quick else [10_000, 20_000, 40_000, 80_000, 160_000],
        ramp_refine=0 if quick else 2,
        open_start="09:29:50" if quick else "09:29:30",
        open_after=25 if quick else 60,
        compare_budget=15 if quick else 45,
        workroot=workroot,
    )


def main(argv: list[str]) -> int:
    args = parse_args(argv)
    out_dir = Path(args.out)
    out_dir.mkdir(parents=True, exist_ok=True)
    workroot = Path(tempfile.mkdtemp(prefix="stampede-bench-"))
    plan = make_plan(args, workroot)
    started = datetime.now().astimezone()
    results: dict = {
        "started": started.isoformat(timespec="seconds"),
        "argv": ["stampede", "bench", *argv],
        "quick": args.quick,
        "machine": machine(),
        "note": "simulator, bridge, NATS, dispatch, 4 functions, Redis, gateway and this "
        "benchmark share the machine's CPUs; cpu_percent is % of one core per process",
    }
    chosen = ("steady", "ramp", "open") if args.scenario == "all" else (args.scenario,)
    runners = {"steady": steady, "ramp": ramp, "open": open_burst}
    try:
        for name in chosen:
            try:
                results[name] = runners[name](plan)
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
    path = out_dir / f"{started.strftime('%Y%m%dT%H%M%S')}.json"
    path.write_text(json.dumps(results, indent=1))
    print()
    print(report(results))
    print(f"\nresults: {path}")
    return 1 if "errors" in results else 0
