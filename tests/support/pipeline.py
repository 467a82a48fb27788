"""The whole scanner as `stampede up` runs it, with handles to crash and restart one process.

Built on `stampede.tools.up.Scanner` (the same processes, environment and start order as
`stampede up`); a crash is `kill -9` and the restart is the same command on the same port, so
every OTHER component has to find its peer again by itself. Blocking calls (process start,
readiness polls) are meant to be run with `asyncio.to_thread` by async tests so the test's own
event loop (NATS recorders, WebSocket clients) keeps reading meanwhile.

Used by the fault tests and the security tests (unique module name: no `__init__` packages).
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import time
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import httpx

from stampede.tools import localstack, promscrape, up


class Pipeline:
    """A started `stampede.tools.up.Scanner` plus crash/restart by process name."""

    def __init__(
        self,
        workdir: Path,
        start: str,
        seed: int,
        speed: float = 1.0,
        api_key: str | None = None,
        env: dict[str, str] | None = None,
        up_args: tuple[str, ...] = (),
    ) -> None:
        args = up.parse_args(
            [
                *up_args,
                "--workdir",
                str(workdir),
                "--start",
                start,
                "--seed",
                str(seed),
                "--speed",
                str(speed),
                "--port",
                str(localstack.free_port()),
                "--ready-timeout",
                "90",
            ]
        )
        self.api_key = api_key
        self.env = env or {}
        self.scanner = up.Scanner(args)
        self.status: dict[str, Any] = {}

    def start(self) -> dict[str, Any]:
        # Scanner hands its own environment to every component; set ours only while starting.
        extra = {**self.env, **({"MASSIVE_API_KEY": self.api_key} if self.api_key else {})}
        saved = {name: os.environ.get(name) for name in extra}
        os.environ.update(extra)
        if self.api_key:
            self.scanner.api_key = self.api_key
        try:
            self.status = self.scanner.start()
        finally:
            for name, value in saved.items():
                if value is None:
                    os.environ.pop(name, None)
                else:
                    os.environ[name] = value
        return self.status

    def stop(self) -> None:
        self.scanner.stop()

    # --- processes -------------------------------------------------------------------------
    def process(self, name: str) -> localstack.ServerProcess:
        for proc in self.scanner.processes():
            if proc.name == name:
                return proc
        raise KeyError(name)

    def crash(self, name: str) -> None:
        """SIGKILL: no shutdown hook runs, sockets are reset by the kernel."""
        self.process(name).kill()

    def restart(self, name: str, ready_timeout: float = 60.0) -> None:
        """Start the same command on the same port and wait until it listens (and is ready)."""
        proc = self.process(name)
        assert not proc.running, f"{name} is still running"
        proc.start()
        if isinstance(proc, up.Component):
            proc.wait_ready(ready_timeout)

    def launch_copy(self, name: str, copy_name: str) -> up.Component:
        """A second process of component ``name`` (same command and environment) on a free
        port, launched; the caller stops it (``stampede up`` does not know it)."""
        proc = self.process(name)
        assert isinstance(proc, up.Component)
        port = localstack.free_port()
        argv = [str(port) if arg == str(proc.port) else arg for arg in proc.argv]
        log_path = proc.log_path.with_name(f"{copy_name}.log")
        copy = up.Component(copy_name, proc.host, port, proc.data_dir, log_path, argv, proc.env)
        copy.launch()
        return copy

    def pid(self, name: str) -> int:
        proc = self.process(name).proc
        assert proc is not None
        return proc.pid

    # --- looking at it ----------------------------------------------------------------------
    @property
    def sim_url(self) -> str:
        return self.status["services"]["sim"]

    @property
    def gateway_url(self) -> str:
        return self.status["gateway"]

    @property
    def redis_url(self) -> str:
        return self.status["redis"]

    @property
    def nats_url(self) -> str:
        return self.status["nats"]

    def truth(self, limit: int = 0) -> dict[str, Any]:
        return httpx.get(f"{self.sim_url}/_sim/truth", params={"limit": limit}, timeout=20).json()

    @property
    def sim_offset_ms(self) -> int:
        """Simulated exchange time minus wall time (constant at speed 1)."""
        clock = httpx.get(f"{self.sim_url}/_sim/clock", timeout=10).json()
        return int(clock["sim_ms"] - clock["wall_ms"])

    def sim_control(self, path: str, **params: object) -> dict[str, Any]:
        """A simulator control, e.g. ``faults/hang`` or ``feed/stop`` (``/_sim/<path>``)."""
        query = {"apiKey": self.scanner.api_key, **params}
        answer = httpx.get(f"{self.sim_url}/_sim/{path}", params=query, timeout=10)
        answer.raise_for_status()
        return answer.json()

    def metrics(self, name: str) -> promscrape.Snapshot:
        return promscrape.scrape(self.status["metrics"][name], timeout=5.0)

    def reload_reference_data(self) -> None:
        """What the PingSource (and `stampede up`) does every 20 minutes, done now instead of
        waiting for the next fire, retried while the function's first answers are 503 (its
        Redis connection is being re-established)."""
        for attempt in range(20):
            try:
                self.scanner.load_reference_data()
                return
            except RuntimeError:
                if attempt == 19:
                    raise
                time.sleep(0.5)

    def wait_for_feed_end(self, timeout: float = 150.0) -> dict[str, Any]:
        """Until the simulated clock is past 20:00 ET plus the aggregate delay and truth is still."""
        deadline = time.monotonic() + timeout
        previous = None
        while time.monotonic() < deadline:
            truth = self.truth(limit=1)
            quiet = previous is not None and previous["updated_ms"] == truth["updated_ms"]
            if quiet and truth["sim_ms"] - truth["updated_ms"] > 5_000:
                return self.truth(limit=0)
            previous = truth
            time.sleep(1.0)
        raise TimeoutError("the simulated feed did not go quiet")

    def log_texts(self) -> dict[str, str]:
        return {
            p.name: p.read_text(errors="replace") for p in Path(self.status["logs"]).glob("*.log")
        }


@contextlib.asynccontextmanager
async def running_pipeline(workdir: Path, **options: Any) -> AsyncIterator[Pipeline]:
    """A started pipeline for an async test (start and stop run in a thread), stopped after."""
    p = Pipeline(workdir, **options)
    try:
        await asyncio.to_thread(p.start)
        yield p
    finally:
        await asyncio.to_thread(p.stop)
