"""Run one Stampede service (`stampede <command>`) as its own process, for fuzz and security tests."""

from __future__ import annotations

import contextlib
import os
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import psutil

from stampede.tools import localstack, promscrape


class Service:
    def __init__(self, name: str, command: list[str], workdir: Path, env: dict[str, str]) -> None:
        port = localstack.free_port()
        self.url = f"http://127.0.0.1:{port}"
        self.log = workdir / f"{name}.log"
        argv = localstack.stampede_argv(*command, port=port)
        self.proc = localstack.ServerProcess(
            name,
            "127.0.0.1",
            port,
            workdir,
            self.log,
            argv,
            {**os.environ, "LOG_FORMAT": "json", **env},
        ).start()
        deadline = time.monotonic() + 60
        while True:
            with contextlib.suppress(httpx.HTTPError):
                if httpx.get(f"{self.url}/readyz", timeout=2).status_code == 200:
                    break
            assert self.proc.running and time.monotonic() < deadline, self.log.read_text()[-3000:]
            time.sleep(0.1)

    @property
    def running(self) -> bool:
        return self.proc.running

    def rss(self) -> int:
        assert self.proc.proc is not None
        return psutil.Process(self.proc.proc.pid).memory_info().rss

    def metrics(self) -> promscrape.Snapshot:
        return promscrape.scrape(f"{self.url}/metrics")

    def stop(self) -> None:
        self.proc.stop()


@contextlib.contextmanager
def service(name: str, command: list[str], workdir: Path, env: dict[str, str]) -> Iterator[Service]:
    svc = Service(name, command, workdir, env)
    try:
        yield svc
    finally:
        svc.stop()
