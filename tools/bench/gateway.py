"""Gateway benchmark: N WebSocket clients on the same boards during a simulated burst.

Starts a private redis-server and `stampede gateway` (a separate process, as deployed), writes
boards + rows into Redis and publishes change notifications at a high rate (like the functions
during the 09:30 burst), and runs the clients in this process. Two phases, 1 client then N
clients, show that Redis reads per tick follow the boards, not the clients.

    stampede bench gateway [--clients 200] [--seconds 15] [--rate 200] [--scans distinct]

``--scans distinct`` gives every client its own scan (filters of its own on each board), so
the gateway's views grow with the clients while its Redis reads per tick must not.

With ``--open`` it runs the whole scanner instead (`stampede up`, the simulated open of seed 7
from 09:29:30 ET) with ``--clients`` dashboards on its gateway, once with the gateway reading
boards from the Redis replica and once from the primary, and measures ticks/s and
tick->client latency for ``--window`` seconds from 09:30:00:

    stampede bench gateway --open --clients 300 [--reads both|replica|primary] [--window 60]
"""

from __future__ import annotations

import argparse
import asyncio
import multiprocessing
import os
import random
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from datetime import datetime
from pathlib import Path

import httpx
import orjson
import psutil
import redis.asyncio as aioredis
import websockets
from redis.typing import EncodableT

from stampede import keys
from stampede import metricnames as names
from stampede.boards import BOARDS_BY_NAME
from stampede.markettime import ET
from stampede.tools import localstack
from stampede.tools.bench.probes import pipeline

DAY = "2025-03-14"
BOARDS = ("gainers", "volume", "momentum_1m", "rvol")


class Writer:
    """Board churn as the scoring functions write it: row hashes, sorted sets, PUBLISH."""

    def __init__(self, redis: aioredis.Redis, symbols: int = 3000, seed: int = 1) -> None:
        self.redis, self.rng = redis, random.Random(seed)
        self.symbols = [f"T{i:04d}" for i in range(symbols)]
        self.prev = {s: self.rng.uniform(1, 50) for s in self.symbols}
        self.last = dict(self.prev)
        self.volume = {s: self.rng.randint(0, 10**6) for s in self.symbols}
        self.t = 1_741_959_000_000
        self.published = 0

    async def batch(self, size: int) -> None:
        self.t += 5
        pipe = self.redis.pipeline(transaction=True)
        # movers are skewed toward a hot set, as in a real burst
        for sym in self.rng.sample(self.symbols[:300], size // 2) + self.rng.sample(
            self.symbols, size // 2
        ):
            self.last[sym] *= self.rng.uniform(0.98, 1.025)
            self.volume[sym] += self.rng.randint(100, 50_000)
            change = (self.last[sym] / self.prev[sym] - 1) * 100
            # Typed as redis-py's mapping wants it (its Mapping key type is invariant).
            fields: dict[EncodableT, EncodableT] = {
                "sym": sym,
                "last": f"{self.last[sym]:.4f}",
                "prev_close": f"{self.prev[sym]:.4f}",
                "change_pct": f"{change:.3f}",
                "volume": str(self.volume[sym]),
                "rvol": f"{self.volume[sym] / 2e5:.2f}",
                "change_1m_pct": f"{self.rng.uniform(-5, 5):.3f}",
                "has_reference": "1",
                "halted": "0",
                "updated_ms": str(self.t),
            }
            pipe.hset(keys.row(DAY, sym), mapping=fields)
            for name in BOARDS:
                pipe.zadd(keys.board(DAY, name), {sym: float(fields[BOARDS_BY_NAME[name].metric])})
        pipe.publish(
            keys.CHANGES_CHANNEL,
            orjson.dumps(
                {
                    "day": DAY,
                    "boards": list(BOARDS),
                    "exchange_ms": self.t,
                    "received_ms": int(time.time() * 1000),
                }
            ),
        )
        await pipe.execute()
        self.published += 1

    async def run(self, rate: float, seconds: float, size: int) -> None:
        interval, end = 1.0 / rate, time.monotonic() + seconds
        next_at = time.monotonic()
        while time.monotonic() < end:
            await self.batch(size)
            next_at += interval
            await asyncio.sleep(max(0.0, next_at - time.monotonic()))


class Stats:
    def __init__(self) -> None:
        self.messages = 0
        self.bytes = 0
        self.diffs = 0
        self.snapshots: dict[str, int] = {}
        self.tick_delay_ms: list[float] = []
        self.feed_delay_ms: list[float] = []
        self.seq_errors = 0


def scan_of(i: int, scans: str) -> dict[str, float] | None:
    """Client ``i``'s filters: ``shared`` = half the clients on one common scan; ``distinct`` =
    every client its own scan (a dashboard's saved scans), so specs grow with the clients."""
    if scans == "distinct":
        return {"min_price": 1, "max_price": 20, "min_change_pct": round(-5 + i * 0.01, 2)}
    return {"min_price": 1, "max_price": 20, "min_volume": 10_000} if i % 2 else None


async def client(
    url: str,
    stats: Stats,
    stop: asyncio.Event,
    ready: asyncio.Event,
    filters: dict[str, float] | None,
) -> None:
    async with websockets.connect(url, max_size=None, compression=None) as ws:
        seqs: dict[str, int] = {}
        for name in BOARDS:
            msg = {"type": "subscribe", "id": name, "board": name, "limit": 20}
            if filters:
                msg["filters"] = filters
            await ws.send(orjson.dumps(msg).decode())
        while not stop.is_set():
            try:
                raw = await asyncio.wait_for(ws.recv(), 0.5)
            except TimeoutError:
                continue
            now = time.time() * 1000
            msg = orjson.loads(raw)
            stats.messages += 1
            stats.bytes += len(raw)
            kind = msg["type"]
            if kind == "snapshot":
                seqs[msg["id"]] = msg["seq"]
                stats.snapshots[msg["reason"]] = stats.snapshots.get(msg["reason"], 0) + 1
                if len(seqs) == len(BOARDS):
                    ready.set()
            elif kind == "diff":
                stats.diffs += 1
                if msg["seq"] != seqs.get(msg["id"], -1) + 1:
                    stats.seq_errors += 1
                seqs[msg["id"]] = msg["seq"]
                stats.tick_delay_ms.append(now - msg["tick_ms"])
                if msg.get("received_ms"):
                    stats.feed_delay_ms.append(now - msg["received_ms"])


def metric(text: str, name: str, label: str = "") -> float:
    """The sum of a metric's samples (only those whose labels contain ``label``)."""
    return sum(
        float(m.group(2))
        for m in re.finditer(rf"^{name}({{[^}}]*}})? ([0-9.e+]+)$", text, re.MULTILINE)
        if label in (m.group(1) or "")
    )


def pct(values: list[float], q: float) -> float:
    return (
        statistics.quantiles(values, n=1000)[int(q * 1000) - 1]
        if len(values) > 10
        else float("nan")
    )


def write_burst(redis_url: str, rate: float, seconds: float, size: int, seed: int) -> None:
    """The writer runs in its own process so the clients cannot slow the burst down."""

    async def run() -> None:
        redis = aioredis.from_url(redis_url)
        await Writer(redis, seed=seed).run(rate, seconds, size)
        await redis.aclose()

    asyncio.run(run())


async def phase(
    base: str, redis_url: str, clients: int, seconds: float, rate: float, size: int, scans: str
) -> dict[str, object]:
    stats, stop = Stats(), asyncio.Event()
    readies = [asyncio.Event() for _ in range(clients)]
    tasks = [
        asyncio.create_task(
            client(base.replace("http", "ws") + "/ws", stats, stop, readies[i], scan_of(i, scans))
        )
        for i in range(clients)
    ]
    await asyncio.wait_for(asyncio.gather(*(r.wait() for r in readies)), 60)
    async with httpx.AsyncClient(base_url=base) as http:
        before = (await http.get("/metrics")).text
        stats.tick_delay_ms.clear()
        stats.feed_delay_ms.clear()
        m0, t0 = stats.messages, time.monotonic()
        burst = multiprocessing.get_context("spawn").Process(
            target=write_burst, args=(redis_url, rate, seconds, size, clients)
        )
        burst.start()
        while burst.is_alive():
            await asyncio.sleep(0.1)
        await asyncio.sleep(0.5)
        elapsed = time.monotonic() - t0
        after = (await http.get("/metrics")).text
    stop.set()
    await asyncio.gather(*tasks, return_exceptions=True)
    ticks = metric(after, names.GATEWAY_TICKS) - metric(before, names.GATEWAY_TICKS)
    reads = metric(after, "stampede_gateway_redis_reads_total") - metric(
        before, "stampede_gateway_redis_reads_total"
    )
    return {
        "clients": clients,
        "views": metric(after, "stampede_gateway_views"),
        "notifications/s": (
            metric(after, "stampede_gateway_notifications_total")
            - metric(before, "stampede_gateway_notifications_total")
        )
        / seconds,
        "ticks": ticks,
        "ticks/s": ticks / seconds,
        "redis reads/tick": reads / ticks if ticks else float("nan"),
        "messages/s sent": (stats.messages - m0) / elapsed,
        "diffs": stats.diffs,
        "p50 tick->client ms": pct(stats.tick_delay_ms, 0.5),
        "p99 tick->client ms": pct(stats.tick_delay_ms, 0.99),
        "p99 publish->client ms": pct(stats.feed_delay_ms, 0.99),
        "snapshots": stats.snapshots,
        "seq errors": stats.seq_errors,
    }


async def open_run(
    reads: str, clients: int, start: str, seed: int, window: float
) -> dict[str, object]:
    """The simulated open through `stampede up`, ``clients`` dashboards on the gateway, the
    gateway reading boards from the replica (``reads="replica"``) or the primary; measured for
    ``window`` seconds from 09:30:00 ET."""
    workdir = Path(tempfile.mkdtemp(prefix=f"stampede-bench-gw-open-{reads}-"))
    up_argv = ["--start", start, "--speed", "1", "--seed", str(seed)]
    if reads == "primary":
        up_argv.append("--no-read-replica")
    env = {"GATEWAY_MAX_CLIENTS": str(clients + 10), "LOG_LEVEL": "WARNING"}
    print(f"[open, reads from {reads}] starting the pipeline from {start} ET...", flush=True)
    with pipeline(workdir, up_argv, env) as running:
        base, sim = running.status["gateway"], running.sim
        functions = [u for n, u in running.status["metrics"].items() if n.startswith("function-")]
        stats, stop = Stats(), asyncio.Event()
        readies = [asyncio.Event() for _ in range(clients)]
        url = base.replace("http", "ws") + "/ws"
        tasks = [
            asyncio.create_task(client(url, stats, stop, readies[i], scan_of(i, "shared")))
            for i in range(clients)
        ]
        async with httpx.AsyncClient(timeout=10) as http:
            await asyncio.wait_for(asyncio.gather(*(r.wait() for r in readies)), 120)
            clock = (await http.get(f"{sim}/_sim/clock")).json()
            sim_now = datetime.fromtimestamp(clock["sim_ms"] / 1000, ET)
            open_ms = sim_now.replace(hour=9, minute=30, second=0, microsecond=0).timestamp() * 1e3
            wait = (open_ms - clock["sim_ms"]) / 1000 / clock["speed"]
            print(f"  {clients} clients subscribed; 09:30 ET in {wait:.0f} s", flush=True)
            await asyncio.sleep(max(0.0, wait))

            async def scrape() -> tuple[str, float]:
                texts = [(await http.get(u)).text for u in (f"{base}/metrics", *functions)]
                applied = sum(metric(t, names.FUNCTION_EVENTS_APPLIED) for t in texts[1:])
                return texts[0], applied

            procs = {
                name: psutil.Process(pid)
                for name, pid in running.status["pids"].items()
                if name in ("redis-server", "redis-replica", "gateway")
            }
            cpu0 = {name: sum(p.cpu_times()[:2]) for name, p in procs.items()}
            (before, applied0), t0 = await scrape(), time.monotonic()
            stats.tick_delay_ms.clear()
            stats.feed_delay_ms.clear()
            m0, errors0 = stats.messages, stats.seq_errors
            await asyncio.sleep(window)
            (after, applied1), elapsed = await scrape(), time.monotonic() - t0
            cpu = {n: 100 * (sum(p.cpu_times()[:2]) - cpu0[n]) / elapsed for n, p in procs.items()}
        stop.set()
        await asyncio.gather(*tasks, return_exceptions=True)
    shutil.rmtree(workdir, ignore_errors=True)

    def delta(name: str, label: str = "") -> float:
        return metric(after, name, label) - metric(before, name, label)

    ticks = delta(names.GATEWAY_TICKS)
    return {
        "reads from": reads,
        "clients": clients,
        "ticks/s": ticks / elapsed,
        "mean tick ms": 1000 * delta(names.GATEWAY_TICK_DURATION + "_sum") / ticks
        if ticks
        else float("nan"),
        "p50 tick->client ms": pct(stats.tick_delay_ms, 0.5),
        "p99 tick->client ms": pct(stats.tick_delay_ms, 0.99),
        "p99 bridge->client ms": pct(stats.feed_delay_ms, 0.99),
        "read retries/tick": delta("stampede_gateway_read_retries_total") / ticks
        if ticks
        else float("nan"),
        "CPU % gateway": cpu["gateway"],
        "CPU % redis": cpu["redis-server"],
        "CPU % replica": cpu.get("redis-replica", 0.0),
        "missed-row ticks": delta("stampede_gateway_redis_errors_total", '"missed_rows"'),
        "failed reads": delta("stampede_gateway_redis_errors_total", '"read"'),
        "applied events/s": (applied1 - applied0) / elapsed,
        "messages/s to clients": (stats.messages - m0) / elapsed,
        "snapshots": stats.snapshots,
        "seq errors": stats.seq_errors - errors0,
    }


def report(result: dict[str, object]) -> None:
    print(
        "  "
        + "  ".join(
            f"{k}={v:.1f}" if isinstance(v, float) else f"{k}={v}" for k, v in result.items()
        ),
        flush=True,
    )


async def open_main(args: argparse.Namespace) -> int:
    print(
        f"gateway bench at the open: seed {args.seed} from {args.start} ET, {args.clients} "
        f"clients x boards {', '.join(BOARDS)} (limit 20, half filtered $1-20, vol >= 10k), "
        f"{args.window:.0f} s from 09:30:00",
        flush=True,
    )
    for reads in ("replica", "primary") if args.reads == "both" else (args.reads,):
        report(await open_run(reads, args.clients, args.start, args.seed, args.window))
    return 0


async def run_main(argv: list[str] | None) -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--clients", type=int, default=200)
    parser.add_argument("--seconds", type=float, default=15.0)
    parser.add_argument("--rate", type=float, default=200.0, help="change notifications per second")
    parser.add_argument("--batch", type=int, default=40, help="rows changed per notification")
    parser.add_argument(
        "--scans",
        choices=("shared", "distinct"),
        default="shared",
        help="shared: half the clients hold one common scan; distinct: every client its own",
    )
    parser.add_argument(
        "--open",
        action="store_true",
        help="instead: the simulated open through `stampede up` (the whole pipeline), clients "
        "on its gateway",
    )
    parser.add_argument(
        "--reads",
        choices=("replica", "primary", "both"),
        default="both",
        help="--open: where the gateway reads boards (both: one run each)",
    )
    parser.add_argument("--start", default="09:29:30", help="--open: simulated ET start")
    parser.add_argument("--seed", type=int, default=7, help="--open: simulator seed")
    parser.add_argument("--window", type=float, default=60.0, help="--open: seconds measured")
    args = parser.parse_args(argv)
    if args.open:
        return await open_main(args)
    print(
        f"gateway bench: {args.rate:.0f} notifications/s x {args.batch} rows, boards "
        f"{', '.join(BOARDS)}, limit 20, scans {args.scans} ("
        + (
            "every client its own: $1-20, change >= its own bound"
            if args.scans == "distinct"
            else "half the clients filtered: $1-20, vol >= 10k"
        )
        + f"); {args.seconds:.0f} s per phase",
        flush=True,
    )
    await burst_phases(args.clients, args.seconds, args.rate, args.batch, args.scans, report)
    return 0


async def burst_phases(
    clients: int,
    seconds: float,
    rate: float,
    batch: int,
    scans: str,
    on_phase: Callable[[dict[str, object]], None],
) -> list[dict[str, object]]:
    """The burst against a private redis-server and `stampede gateway`: one phase with 2
    clients, one with ``clients``, in the same scan mode; each phase's figures go to
    ``on_phase`` as soon as it ends (and all are returned)."""
    work = Path(tempfile.mkdtemp(prefix="stampede-bench-gw-"))
    redis_server = localstack.redis_server(work).start()
    port = localstack.free_port()
    env = {
        **os.environ,
        "REDIS_URL": redis_server.url,
        "LOG_FORMAT": "console",
        "LOG_LEVEL": "WARNING",
        "GATEWAY_MAX_CLIENTS": str(clients + 10),
        "GATEWAY_AUTH": "off",  # a private gateway on 127.0.0.1, as stampede up runs it
    }
    with open(work / "gateway.log", "wb") as log:  # noqa: ASYNC230 (once, before any client)
        gateway = subprocess.Popen(  # noqa: ASYNC220 (a child process for the whole run)
            localstack.stampede_argv("gateway", port=port),
            env=env,
            stdout=subprocess.DEVNULL,
            stderr=log,
        )
    redis = aioredis.from_url(redis_server.url)
    results: list[dict[str, object]] = []
    try:
        localstack.wait_for_port("127.0.0.1", port, proc=gateway)
        base = f"http://127.0.0.1:{port}"
        writer = Writer(redis)
        for _ in range(100):
            await writer.batch(60)  # a populated board before anyone connects
        for n in (2, clients):  # same scan mode, 2 vs N clients
            results.append(await phase(base, redis_server.url, n, seconds, rate, batch, scans))
            on_phase(results[-1])
    finally:
        await redis.aclose()
        gateway.terminate()
        gateway.wait(15)
        redis_server.stop()
    return results


def main(argv: list[str] | None = None) -> int:
    return asyncio.run(run_main(argv))


if __name__ == "__main__":
    sys.exit(main())
