"""What the benchmark runs and watches: a fresh ``stampede up``, a WebSocket client on every
board, and a sampler of every component's ``/metrics`` and every process's CPU and memory."""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import threading
import time
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Self

import httpx
import psutil
import websockets

from stampede.boards import BOARDS, BOARDS_BY_NAME
from stampede.tools import localstack, up
from stampede.tools.bench.figures import Sample, percentiles
from stampede.tools.bench.verdict import Doc
from stampede.tools.promscrape import scrape_all

PROBE_LOOP = 2_000_000


def speed_probe_ms() -> float:
    """Milliseconds of a fixed pure-Python loop, best of three: how fast this machine runs a
    process right now. A cloud machine's speed changes by the hour (seen here, same code:
    movers at 10.9 us of CPU per event one evening, 37 us two hours later), so every result
    carries the probe, and figures compare only beside like probes."""
    best = float("inf")
    for _ in range(3):
        started = time.perf_counter()
        total = 0
        for i in range(PROBE_LOOP):
            total += i
        best = min(best, time.perf_counter() - started)
    return round(best * 1000, 1)


@dataclass
class Running:
    """A started scanner and its status.json."""

    scanner: up.Scanner
    status: Doc

    @property
    def sim(self) -> str:
        return str(self.status["services"]["sim"])

    def start_clock(self) -> None:
        """Start the simulator's held clock (``SIM_HOLD_CLOCK``) now that everything is up."""
        httpx.get(f"{self.sim}/_sim/clock/start", timeout=5).raise_for_status()

    def clock_offset_ms(self) -> float:
        """Simulated minus wall time now (0 for a live clock on today's session)."""
        clock = httpx.get(f"{self.sim}/_sim/clock", timeout=5).json()
        return float(clock["sim_ms"] - clock["wall_ms"])


@contextlib.contextmanager
def environment(values: Mapping[str, str]) -> Iterator[None]:
    """Set environment variables for the children started inside (restored afterwards)."""
    saved = {k: os.environ.get(k) for k in values}
    os.environ.update(values)
    try:
        yield
    finally:
        for key, value in saved.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value


# A busy service may answer /metrics late; a sample missing one is not used for rates (its
# counters would look reset), so wait a little longer than the interval rather than lose it.
SCRAPE_TIMEOUT_S = 3.0
HOLD_CLOCK = {"SIM_HOLD_CLOCK": "true"}  # a simulated market waits for Running.start_clock


@contextlib.contextmanager
def pipeline(
    workdir: Path, up_argv: list[str], env: Mapping[str, str] | None = None
) -> Iterator[Running]:
    """A fresh ``stampede up`` (in this process, as its own children)."""
    # An explicit free port: another scanner on this machine may hold the usual 8765.
    port = str(localstack.free_port())
    args = up.parse_args(["--workdir", str(workdir), "--port", port, *up_argv])
    scanner = up.Scanner(args)
    try:
        with environment(env or {}):
            status = scanner.start()
        yield Running(scanner, status)
    finally:
        scanner.stop()


class Background:
    """A daemon thread running ``_work`` for the duration of a ``with`` block."""

    def __init__(self) -> None:
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._work, daemon=True)

    def _work(self) -> None:
        raise NotImplementedError

    def __enter__(self) -> Self:
        self._thread.start()
        return self

    def __exit__(self, *_: object) -> None:
        self._stop.set()
        self._thread.join(10)


class BoardClient(Background):
    """One WebSocket client subscribed to every board; measures what it receives.

    Diffs carry the board's newest exchange time and bridge-read time, so the client's own
    receive time gives exchange->client and bridge->client latency as a browser would see it.
    ``clock_offset_ms`` (simulated minus wall time) turns a simulated exchange time back into
    the wall instant it stands for. Every change of the ``day`` messages carry is recorded.
    """

    def __init__(
        self,
        gateway_url: str,
        limit: int = 20,
        clock_offset_ms: float = 0.0,
        token: str | None = None,
    ) -> None:
        self.url = gateway_url.replace("http://", "ws://") + "/ws"
        self.token = token  # sent as the first message, never in the URL (a log may keep URLs)
        self.limit = limit
        self.clock_offset_ms = clock_offset_ms
        self.counts: dict[str, int] = {}
        self.exchange_ms: dict[str, list[float]] = {}  # by the function writing the board
        self.pipeline_ms: dict[str, list[float]] = {}
        self.days: list[tuple[float, str]] = []  # (monotonic s, day) at every change of day
        self.error: str | None = None
        super().__init__()

    def _work(self) -> None:
        asyncio.run(self._run())

    def reset(self) -> None:
        self.counts, self.exchange_ms, self.pipeline_ms = {}, {}, {}

    async def _run(self) -> None:
        try:
            async with websockets.connect(self.url, max_size=None) as ws:
                if self.token:
                    await ws.send(json.dumps({"type": "auth", "token": self.token}))
                for board in BOARDS:
                    subscribe = {
                        "type": "subscribe",
                        "id": board.name,
                        "board": board.name,
                        "limit": self.limit,
                    }
                    await ws.send(json.dumps(subscribe))
                while not self._stop.is_set():
                    try:
                        raw = await asyncio.wait_for(ws.recv(), 0.5)
                    except TimeoutError:
                        continue
                    self._record(json.loads(raw), time.time() * 1000)
        except (OSError, websockets.WebSocketException) as exc:
            self.error = f"{type(exc).__name__}: {exc}"

    def _record(self, message: Doc, now_ms: float) -> None:
        kind = message.get("type", "?")
        self.counts[kind] = self.counts.get(kind, 0) + 1
        day = message.get("day")
        if isinstance(day, str) and (not self.days or self.days[-1][1] != day):
            self.days.append((time.monotonic(), day))
        if kind != "diff" or message.get("board") not in BOARDS_BY_NAME:
            return
        writer = BOARDS_BY_NAME[message["board"]].function
        if message.get("exchange_ms"):
            happened = message["exchange_ms"] - self.clock_offset_ms
            self.exchange_ms.setdefault(writer, []).append(now_ms - happened)
        if message.get("received_ms"):
            self.pipeline_ms.setdefault(writer, []).append(now_ms - message["received_ms"])

    def summary(self) -> Doc:
        return {
            "messages": dict(self.counts),
            "clock_offset_ms": round(self.clock_offset_ms),
            "exchange_to_client_ms": {k: percentiles(v) for k, v in self.exchange_ms.items()},
            "bridge_to_client_ms": {k: percentiles(v) for k, v in self.pipeline_ms.items()},
            "error": self.error,
        }


def processes(status: Doc) -> dict[str, psutil.Process]:
    """Every process of a running scanner by name, and this benchmark's own as ``bench``."""
    pids = {**status["pids"], "bench": os.getpid()}
    return {name: psutil.Process(pid) for name, pid in pids.items()}


def usage(procs: dict[str, psutil.Process]) -> tuple[dict[str, float], dict[str, float]]:
    """CPU seconds and RSS bytes per process (children included, but not the bench's own)."""
    cpu, rss = {}, {}
    for name, proc in procs.items():
        with contextlib.suppress(psutil.Error):
            family = [proc, *proc.children(recursive=True)] if name != "bench" else [proc]
            times = [p.cpu_times() for p in family]
            cpu[name] = sum(t.user + t.system for t in times)
            rss[name] = sum(p.memory_info().rss for p in family)
    return cpu, rss


class Sampler(Background):
    """Scrapes every component and reads CPU/memory of every process, once per ``interval``."""

    def __init__(self, status: Doc, interval: float = 1.0) -> None:
        self.status, self.interval = status, interval
        self.samples: list[Sample] = []
        self._procs = processes(status)
        super().__init__()

    def _work(self) -> None:
        with httpx.Client() as client:
            while not self._stop.is_set():
                started = time.monotonic()
                scraped = scrape_all(
                    self.status["metrics"], timeout=SCRAPE_TIMEOUT_S, client=client
                )
                cpu, rss = usage(self._procs)
                self.samples.append(
                    Sample(time.monotonic(), scraped.merged, cpu, rss, scraped.errors)
                )
                self._stop.wait(max(0.0, self.interval - (time.monotonic() - started)))

    def since(self, start: float) -> list[Sample]:
        return [s for s in self.samples if s.at >= start]
