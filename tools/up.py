"""`stampede up`: the whole scanner on this machine, on private NATS and Redis.

Starts, in data-flow order, a private nats-server (JetStream) and redis-server on free ports
(plus a read replica of that Redis for the gateway, unless ``--no-read-replica``; with
``--nats-cluster N``, a local N-node JetStream cluster instead of the one NATS; with
``--redis-cluster N``, a local Redis Cluster of N primaries with a replica each), the Massive
simulator (unless ``--no-sim``), every scoring function as its own HTTP service, loads the day's
reference data (what the cluster's PingSource does before 04:00 ET), then the dispatcher and the
gateway, and last the feed bridge. Each is a separate process, started exactly as
in the cluster (``stampede <command>``), with its log in ``<workdir>/logs``. It waits for each
``/readyz``, prints the dashboard URL, and on Ctrl-C/SIGTERM stops everything in reverse
order. Children also get SIGTERM from the kernel if this process dies (PR_SET_PDEATHSIG), so
nothing is left behind.
"""

from __future__ import annotations

import argparse
import json
import os
import secrets
import signal
import sys
import threading
import time
import uuid
from dataclasses import dataclass
from pathlib import Path

import httpx

from stampede.events import REFDATA_LOAD_TYPE
from stampede.functions import FUNCTIONS
from stampede.tools import localstack

REFDATA_EVERY_SECONDS = 20 * 60  # the cluster's PingSource fires every 20 minutes
LOCAL_REST_RATE = 1000  # requests/s the reference-data load makes of the local simulator
LOCAL_API_KEY = "stampede-local-key"
REDIS_SHARDS_PER_PRIMARY = 4  # hash tags per primary, their slots assigned evenly (4/4/4 of 12)


@dataclass
@dataclass
class Component(localstack.ServerProcess):
    """One Stampede service process; ready when its ``/readyz`` says so. A gateway process
    has a private ``status_port`` (health and metrics) beside its public, shared port."""

    status_port: int | None = None

    @property
    def url(self) -> str:
        """Where its health and metrics are."""
        return f"http://{self.host}:{self.status_port or self.port}"

    @property
    def public_url(self) -> str:
        return f"http://{self.host}:{self.port}"

    def wait_ready(self, timeout: float) -> None:
        deadline = time.monotonic() + timeout
        last = "no answer"
        while time.monotonic() < deadline:
            if not self.running:
                raise RuntimeError(
                    f"{self.name} exited with {self.returncode}; see {self.log_path}"
                )
            try:
                answer = httpx.get(f"{self.url}/readyz", timeout=1.0)
                if answer.status_code == 200:
                    return
                last = f"{answer.status_code} {answer.text[:200]}"
            except httpx.HTTPError as exc:
                last = str(exc)
            time.sleep(0.2)
        raise TimeoutError(
            f"{self.name} not ready after {timeout:.0f}s ({last}); see {self.log_path}"
        )


class Scanner:
    """The local deployment: servers and components, started and stopped in order."""

    def __init__(self, args: argparse.Namespace) -> None:
        self.args = args
        self.workdir = Path(args.workdir).resolve()
        self.logs = self.workdir / "logs"
        self.logs.mkdir(parents=True, exist_ok=True)
        self.stopping = False  # a background load cut off by the stop is not a failure
        self.nats: localstack.NatsServer | localstack.NatsCluster = (
            localstack.nats_cluster(self.workdir, args.nats_cluster)
            if args.nats_cluster > 1
            else localstack.nats_server(self.workdir)
        )
        # shards well above the primaries, their tags' slots assigned evenly over them
        self.redis_shards = (
            REDIS_SHARDS_PER_PRIMARY * args.redis_cluster if args.redis_cluster > 1 else 1
        )
        self.redis: localstack.RedisServer | localstack.RedisCluster = (
            localstack.redis_cluster(
                self.workdir, primaries=args.redis_cluster, shards=self.redis_shards
            )
            if args.redis_cluster > 1
            else localstack.redis_server(self.workdir)
        )
        # The gateway reads from a replica, off the path of the functions' scripts.
        self.replica = (
            None
            if args.no_read_replica or isinstance(self.redis, localstack.RedisCluster)
            else localstack.redis_server(self.workdir, replica_of=self.redis)
        )
        self.components: list[Component] = []
        self.api_key = os.environ.get("MASSIVE_API_KEY") or LOCAL_API_KEY
        # Signed CloudEvents, as in the cluster: the bridge signs, the functions check (a fresh
        # secret per run, given to both; stampede.signing).
        self.event_key = secrets.token_hex(32)

    @property
    def servers(
        self,
    ) -> list[localstack.ServerProcess | localstack.Cluster]:
        """NATS, Redis and its replica, in start order."""
        return [self.nats, self.redis, *([self.replica] if self.replica else [])]

    def processes(self) -> list[localstack.ServerProcess]:
        """Every process of the deployment: each server (each node of a cluster), each component."""
        return [*(node for server in self.servers for node in server.nodes), *self.components]

    def _component(
        self,
        name: str,
        command: list[str],
        env: dict[str, str],
        port: int | None = None,
        status_port: int | None = None,
    ) -> Component:
        port = port or localstack.free_port()
        full_env = {**os.environ, "LOG_FORMAT": os.environ.get("LOG_FORMAT", "json"), **env}
        argv = localstack.stampede_argv(*command, port=port)
        if status_port:
            argv += ["--status-port", str(status_port)]
        component = Component(
            name,
            "127.0.0.1",
            port,
            self.workdir,
            self.logs / f"{name}.log",
            argv,
            full_env,
            status_port=status_port,
        )
        self.components.append(component)
        return component

    def start(self) -> dict[str, object]:
        args = self.args
        for server in self.servers:
            for node in server.nodes:
                node.log_path = self.logs / f"{node.name}.log"
            server.start()
        common = {"NATS_URL": self.nats.url, "REDIS_URL": self.redis.url}
        if args.nats_cluster > 1:  # see docs/deploy.md for the choice of replicas per stream
            replicas = str(min(3, args.nats_cluster))
            common |= {"BRIDGE_STREAM_REPLICAS": replicas, "DLQ_REPLICAS": replicas}
        if args.redis_cluster > 1:
            common |= {"REDIS_CLUSTER": "true", "REDIS_SHARDS": str(self.redis_shards)}

        if args.no_sim:
            if not os.environ.get("MASSIVE_API_KEY"):
                raise SystemExit(
                    "stampede up --no-sim needs MASSIVE_API_KEY set (a Massive API key)"
                )
            ws_url = os.environ.get("MASSIVE_WS_URL", "wss://socket.massive.com/stocks")
            rest_url = os.environ.get("MASSIVE_REST_URL", "https://api.massive.com")
            rest_rates: dict[str, str] = {}  # the plan's limits: the settings' defaults
        else:
            sim_cmd = ["sim", "--start", args.start, "--speed", str(args.speed)]
            if args.seed is not None:
                sim_cmd += ["--seed", str(args.seed)]
            if args.rate:
                sim_cmd += ["--rate", str(args.rate), "--shape", args.shape]
            # The local simulator has no plan to respect: its REST answers as fast as the
            # reference-data load asks (one overview per ticker), so `up` is ready in seconds.
            rest_rates = {"REFDATA_REQUESTS_PER_SECOND": str(LOCAL_REST_RATE)}
            sim = self._component(
                "sim",
                sim_cmd,
                {"MASSIVE_API_KEY": self.api_key, "SIM_REST_RATE_LIMIT": str(2 * LOCAL_REST_RATE)},
            )  # not argv: ps shows argv
            sim.launch()
            sim.wait_ready(args.ready_timeout)
            ws_url = f"ws://127.0.0.1:{sim.port}/stocks"
            rest_url = sim.url
        feed = {
            "MASSIVE_API_KEY": self.api_key,
            "MASSIVE_WS_URL": ws_url,
            "MASSIVE_REST_URL": rest_url,
        }
        signed = (  # the bridge signs in binary mode only (stampede.signing)
            {}
            if os.environ.get("BRIDGE_CONTENT_MODE") == "structured"
            else {"BRIDGE_EVENT_KEY": self.event_key, "FUNCTION_EVENT_KEY": self.event_key}
        )

        # Each function as many processes as --replicas asks (the first keeps the plain name);
        # the dispatcher spreads their requests as Knative would (dispatch/balance.py).
        functions = {
            name: [
                self._component(
                    f"function-{name}" + (f"-{i + 1}" if i else ""),
                    ["function", name],
                    {**common, **feed, **rest_rates, **signed},
                )
                for i in range(args.replicas.get(name, 1))
            ]
            for name in FUNCTIONS
        }
        processes = [c for group in functions.values() for c in group]
        for function in processes:
            function.launch()
        for function in processes:
            function.wait_ready(args.ready_timeout)
        self.refdata = functions["refdata"][0]
        self.load_reference_data()

        subscribers = ",".join(
            f"{name}={'|'.join(c.url for c in group)}" for name, group in functions.items()
        )
        dispatch = self._component(
            "dispatch", ["dispatch"], {**common, "DISPATCH_SUBSCRIBER_URLS": subscribers}
        )
        bridge = self._component(
            "bridge",
            ["bridge"],
            {**common, **feed, **signed, "BRIDGE_MARKET_HOURS_ONLY": "false"},
        )
        gateway_port = args.port or _preferred_port(8765)
        reads = {"GATEWAY_REDIS_READ_URL": self.replica.url} if self.replica else {}
        link = {"GATEWAY_BRIDGE_URL": bridge.url}  # the dashboard shows the feed link
        # Open, and said so in the banner: every process here binds 127.0.0.1. A gateway on a
        # public address runs with GATEWAY_AUTH=required (its default) and a token; with
        # GATEWAY_TOKEN in the environment this one does too (the hostile bench runs so).
        auth = {} if os.environ.get("GATEWAY_TOKEN") else {"GATEWAY_AUTH": "off"}
        # --replicas gateway=N: N processes share the public port (SO_REUSEPORT, the kernel
        # spreads connections); each has a private status port for its health and metrics.
        gateways = [
            self._component(
                "gateway" + (f"-{i + 1}" if i else ""),
                ["gateway", "--reuse-port"],
                {**common, **reads, **link, **auth},
                port=gateway_port,
                status_port=localstack.free_port(),
            )
            for i in range(args.replicas.get("gateway", 1))
        ]
        gateway = gateways[0]
        # The dispatcher goes before the bridge: it waits for the streams the bridge creates and
        # binds its consumers within a poll of their creation, before the bridge has logged in
        # to the feed. The other way round, a dispatcher slow to start (a busy machine: 7 s)
        # found the first seconds of bars already aged out of their 5 s streams.
        for component in (dispatch, *gateways):
            component.launch()
        for component in (dispatch, *gateways):
            component.wait_ready(args.ready_timeout)
        bridge.launch()
        bridge.wait_ready(args.ready_timeout)

        status: dict[str, object] = {
            "dashboard": f"{gateway.public_url}/",
            "gateway": gateway.public_url,
            "gateway_metrics": f"{gateway.url}/metrics",  # its private status port
            "nats": self.nats.url,
            "redis": self.redis.url,
            "redis_replica": self.replica.url if self.replica else None,
            "logs": str(self.logs),
            "metrics": {c.name: f"{c.url}/metrics" for c in self.components},
            "services": {c.name: c.url for c in self.components},
            "pids": {p.name: p.proc.pid for p in self.processes() if p.proc},
        }
        (self.workdir / "status.json").write_text(json.dumps(status, indent=2))
        return status

    def load_reference_data(self) -> None:
        """Fire the reference-data load, as the cluster's PingSource does (a no-op once the
        day is loaded; a reload if Redis lost it): wait for the daily part the boards rank on,
        then leave the fundamentals (one overview per ticker: minutes at a plan's pace) to load
        in the background while the scanner runs."""
        self._post_refdata({"part": "daily"}, timeout=120)
        threading.Thread(
            target=self._post_refdata, args=({"part": "fundamentals"}, 600), daemon=True
        ).start()

    def _post_refdata(self, body: dict[str, str], timeout: float) -> None:
        headers = {
            "ce-specversion": "1.0",
            "ce-type": REFDATA_LOAD_TYPE,
            "ce-source": "/stampede/up",
            "ce-id": uuid.uuid4().hex,
            "content-type": "application/json",
        }
        try:
            answer = httpx.post(self.refdata.url + "/", headers=headers, json=body, timeout=timeout)
        except httpx.HTTPError as exc:
            problem = repr(exc)
        else:
            if answer.status_code < 300:
                return
            problem = f"{answer.status_code} {answer.text[:300]}"
        if body.get("part") == "daily":
            raise RuntimeError(f"reference data load failed: {problem}")
        if self.stopping:
            return
        print(f"stampede up: {body['part']} reference data not loaded: {problem}", flush=True)

    def stop(self) -> None:
        """In reverse start order; the functions, peers that share nothing but Redis, at once
        (each may finish an in-flight request, up to its graceful timeout)."""
        self.stopping = True
        functions = [c for c in self.components if c.name.startswith("function-")]
        for component in reversed(self.components):
            if component not in functions:
                component.stop()
            elif component is functions[-1]:  # the first function met, backwards: all at once
                localstack.stop_together(functions)
        for server in reversed(self.servers):
            server.stop()


def _preferred_port(port: int) -> int:
    """The usual port when it is free (a stable URL to bookmark), else any free one."""
    try:
        localstack.wait_for_port("127.0.0.1", port, timeout=0.05)
    except (TimeoutError, RuntimeError):
        return port
    return localstack.free_port()


def parse_args(argv: list[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="stampede up",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument(
        "--port",
        type=int,
        default=0,
        help="gateway/dashboard port (default 8765, or a free one if taken)",
    )
    parser.add_argument(
        "--workdir", default=".stampede", help="data dirs, logs and status.json (default .stampede)"
    )
    parser.add_argument(
        "--no-sim", action="store_true", help="use the real Massive feed (needs MASSIVE_API_KEY)"
    )
    parser.add_argument(
        "--start",
        default="09:29:00",
        help="simulated ET start time, or 'now' (default 09:29:00: just before the open)",
    )
    parser.add_argument(
        "--speed", type=float, default=1.0, help="simulated clock speed (default 1 = real time)"
    )
    parser.add_argument(
        "--seed", type=int, default=None, help="simulator seed for a repeatable market"
    )
    parser.add_argument(
        "--rate",
        type=int,
        default=None,
        help="simulator load mode: this many events/s (A and T over every ticker) instead of the market",
    )
    parser.add_argument(
        "--shape",
        choices=("uniform", "market"),
        default="uniform",
        help="load mode's spread: uniform (every visit a new ticker) or market (a real tape's "
        "heavy tail)",
    )
    parser.add_argument(
        "--nats-cluster",
        type=int,
        default=1,
        metavar="N",
        help="run NATS as a local N-node JetStream cluster with routes (default 1: one server)",
    )
    parser.add_argument(
        "--redis-cluster",
        type=localstack.redis_primaries,
        default=1,
        metavar="N",
        help="run Redis as a local Redis Cluster of N >= 3 primaries, each with a replica (default 1: "
        "one server and a read replica)",
    )
    parser.add_argument(
        "--replicas",
        type=replica_counts,
        default={},
        metavar="NAME=N[,NAME=N]",
        help="run N processes of a function (e.g. momentum=4): the dispatcher spreads its "
        "CloudEvents by requests in flight, as Knative does; gateway=N: N gateways share the "
        "dashboard's port (SO_REUSEPORT) (default: one each)",
    )
    parser.add_argument(
        "--no-read-replica",
        action="store_true",
        help="no Redis replica: the gateway reads boards from the primary, behind the functions",
    )
    parser.add_argument(
        "--ready-timeout", type=float, default=60.0, help="seconds to wait for each component"
    )
    return parser.parse_args(argv)


REPLICABLE = (*FUNCTIONS, "gateway")


def replica_counts(text: str) -> dict[str, int]:
    """``momentum=4,gateway=2`` as {function or gateway: processes}."""
    counts = {}
    for item in filter(None, text.split(",")):
        name, _, n = item.partition("=")
        if name not in REPLICABLE or not n.isdigit() or not 1 <= int(n) <= 32:
            raise argparse.ArgumentTypeError(
                f"expected NAME=N with N from 1 to 32 and a name of "
                f"{', '.join(REPLICABLE)}; got {item!r}"
            )
        counts[name] = int(n)
    return counts


def main(argv: list[str]) -> int:
    args = parse_args(argv)
    scanner = Scanner(args)
    stopping = False

    def _on_signal(signum: int, _frame: object) -> None:
        nonlocal stopping
        if not stopping:
            stopping = True
            raise KeyboardInterrupt

    signal.signal(signal.SIGTERM, _on_signal)
    signal.signal(signal.SIGINT, _on_signal)
    try:
        status = scanner.start()
        access = (
            "GATEWAY_TOKEN required: open /#token=…"
            if os.environ.get("GATEWAY_TOKEN")
            else "no token: it binds 127.0.0.1 only; a public gateway requires GATEWAY_TOKEN"
        )
        print(
            f"Stampede is up.\n  dashboard: {status['dashboard']} ({access})"
            f"\n  logs:      {status['logs']}/"
            f"\n  metrics:   {status['gateway_metrics']} (the gateway's private status "
            f"port; every service's in {scanner.workdir / 'status.json'})\nPress Ctrl-C to stop.",
            flush=True,
        )
        next_refdata = time.monotonic() + REFDATA_EVERY_SECONDS
        while True:
            if time.monotonic() >= next_refdata:
                next_refdata += REFDATA_EVERY_SECONDS
                try:
                    scanner.load_reference_data()
                except (httpx.HTTPError, RuntimeError) as exc:
                    print(
                        f"reference data load failed (will retry): {exc}",
                        file=sys.stderr,
                        flush=True,
                    )
            for component in scanner.components:
                if not component.running:
                    print(
                        f"{component.name} exited with {component.returncode}; see "
                        f"{component.log_path}",
                        file=sys.stderr,
                        flush=True,
                    )
                    return 1
            time.sleep(0.5)
    except KeyboardInterrupt:
        print("stopping...", flush=True)
        return 0
    except (RuntimeError, TimeoutError, FileNotFoundError) as exc:
        print(f"stampede up failed: {exc}", file=sys.stderr, flush=True)
        return 1
    finally:
        signal.signal(signal.SIGINT, signal.SIG_IGN)
        signal.signal(signal.SIGTERM, signal.SIG_IGN)
        scanner.stop()
