"""Benchmark: events/s one function replica applies to Redis over real HTTP.

`--function movers` (default): per-second bars (A). `--function momentum`: trades (T), each
batch spread over `--trade-symbols` tickers (trades concentrate on fewer names than bars).

Starts a private redis-server with a read replica (as the gateway reads) and ONE
`stampede function movers` process (uvicorn), seeds reference data for the whole universe, then
POSTs binary-mode CloudEvents each carrying a batch of per-second bars (default 500, as the
bridge sends a full Massive frame) from a few concurrent senders, and prints applied events/s,
CloudEvents/s, request latency percentiles, CPU per event, the primaries' command time per event
(`INFO commandstats`) and the bytes they replicate per event and per second (their
`master_repl_offset`): what every replica of the store has to receive.

`--redis-cluster N` (N > 1) runs the same function against a local Redis Cluster of N primaries
with a replica each (as `stampede up --redis-cluster N`: `REDIS_CLUSTER=true`, 4 symbol shards
per primary) and prints, per Redis node, its role, the shards it serves and its CPU (share of a
core and microseconds per applied event): the per-shard cost that N machines would each carry.

    stampede bench functions [--seconds 20] [--batch 500] [--symbols 8000] [--concurrency 4]
                             [--redis-cluster N]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import statistics
import sys
import tempfile
import time
import uuid
from datetime import UTC, date, datetime
from datetime import time as dtime
from pathlib import Path

import psutil
import redis
from redis.cluster import RedisCluster

from stampede import keys
from stampede.market import Aggregate, Trade, encode
from stampede.markettime import et_ms
from stampede.tools import localstack
from stampede.tools.bench.probes import speed_probe_ms
from stampede.tools.up import REDIS_SHARDS_PER_PRIMARY

DAY = date(2025, 3, 14)


def universe(n: int) -> list[str]:
    letters = "ABCDEFGHIJKLMNOPQRSTUVWXYZ"
    return [
        letters[i // 676 % 26] + letters[i // 26 % 26] + letters[i % 26] + str(i // 17576 or "")
        for i in range(n)
    ]


def bodies(symbols: list[str], batch: int, seconds: int) -> list[bytes]:
    """Batches covering every symbol once per simulated second, from 10:00:00 ET."""
    start = et_ms(DAY, dtime(10, 0))
    out = []
    volume = dict.fromkeys(symbols, 100_000.0)
    for second in range(seconds):
        end = start + (second + 1) * 1000
        for i in range(0, len(symbols), batch):
            bars = []
            for j, sym in enumerate(symbols[i : i + batch]):
                volume[sym] += 100 + j
                price = 10 + (j % 50) + second * 0.01
                bars.append(
                    Aggregate(
                        sym=sym,
                        v=100 + j,
                        s=end - 1000,
                        e=end,
                        o=price,
                        c=price,
                        h=price,
                        l=price,
                        vw=price,
                        av=volume[sym],
                        op=10.5,
                        a=price,
                        z=50,
                    )
                )
            out.append(encode(bars))
    return out


def trade_bodies(symbols: list[str], batch: int, count: int) -> list[bytes]:
    """Trade batches from 10:00:00 ET, ~2,000 trades per simulated second over ``symbols``."""
    start = et_ms(DAY, dtime(10, 0))
    out = []
    q = 0
    for n in range(count):
        trades = []
        for j in range(batch):
            q += 1
            sym = symbols[(n * 37 + j * 7) % len(symbols)]
            trades.append(
                Trade(
                    sym=sym,
                    p=10 + (q % 100) / 100,
                    s=100 + j % 3 * 50,
                    t=start + q // 2,
                    q=q,
                    c=[37] if j % 10 == 0 else [],
                )
            )
        out.append(encode(trades))
    return out


def client(url: str, cluster: bool) -> redis.Redis | RedisCluster:
    """A client of the bench's Redis: one server, or a cluster found through its first node."""
    first = url.split(",")[0]
    return RedisCluster.from_url(first) if cluster else redis.Redis.from_url(first)


class PrimaryReplica:
    """One redis-server and its read replica, stopped together."""

    def __init__(self, workdir: Path) -> None:
        self.primary = localstack.redis_server(workdir).start()
        self.replica = localstack.redis_server(workdir, replica_of=self.primary).start()
        self.nodes: list[localstack.ServerProcess] = [self.primary, self.replica]

    def roles(self) -> dict[str, str]:
        return {self.primary.name: "master", self.replica.name: "slave"}

    def stop(self) -> None:
        localstack.stop_together(self.nodes)


def start_redis(
    workdir: Path, primaries: int
) -> tuple[PrimaryReplica | localstack.RedisCluster, dict[str, str]]:
    """One redis-server with a read replica, or a Redis Cluster of ``primaries`` primaries with
    a replica each, and the function's Redis settings for it."""
    if primaries <= 1:
        pair = PrimaryReplica(workdir)
        return pair, {"REDIS_URL": pair.primary.url}
    shards = REDIS_SHARDS_PER_PRIMARY * primaries
    cluster = localstack.redis_cluster(workdir, primaries=primaries, shards=shards)
    cluster.start()
    return cluster, {"REDIS_URL": cluster.url, "REDIS_CLUSTER": "true", "REDIS_SHARDS": str(shards)}


def primary_work(primaries: list[localstack.ServerProcess]) -> tuple[int, int]:
    """(bytes replicated, microseconds in commands) so far, summed over the primaries: their
    ``master_repl_offset`` and ``INFO commandstats`` (a script's commands count in its EVALSHA)."""
    replicated = usec = 0
    for node in primaries:
        with redis.Redis(host=node.host, port=node.port, **node.auth) as r:
            replicated += int(r.info("replication")["master_repl_offset"])
            usec += int(r.info("commandstats").get("cmdstat_evalsha", {}).get("usec", 0))
    return replicated, usec


def shards_by_node(url: str, shards: int) -> dict[int, list[int]]:
    """Port of each primary -> the symbol shards whose hash tag it serves (CLUSTER SLOTS)."""
    r = client(url, cluster=True)
    assert isinstance(r, RedisCluster)
    owners: dict[int, list[int]] = {}
    for shard in range(shards):
        board = keys.board(DAY.isoformat(), "volume", shard)
        node = r.get_node_from_key(board)  # type: ignore[no-untyped-call]  # redis-py: untyped
        owners.setdefault(int(node.port), []).append(shard)
    r.close()
    return owners


def seed_reference(url: str, symbols: list[str], cluster: bool = False) -> None:
    r = client(url, cluster)
    d = DAY.isoformat()
    r.hset(
        keys.reference(d, "prev_close"), mapping={s: 10.0 + i % 40 for i, s in enumerate(symbols)}
    )
    r.hset(keys.reference(d, "adv"), mapping={s: 1e6 + i for i, s in enumerate(symbols)})
    r.hset(keys.reference(d, "profile"), mapping={m: (m + 1 - 240) / 960 for m in range(240, 1200)})
    r.hset(keys.reference(d, "meta"), mapping={"loaded_ms": 1, "sessions": 10})
    r.close()


class Connection:
    """A minimal keep-alive HTTP/1.1 client: the load generator shares the two cores with the
    function and Redis, so it should cost as little CPU as possible."""

    def __init__(self, host: str, port: int) -> None:
        self.host, self.port = host, port

    async def open(self) -> None:
        self.reader, self.writer = await asyncio.open_connection(self.host, self.port)

    async def post(self, headers: dict[str, str], body: bytes) -> tuple[int, bytes]:
        head = "".join(f"{k}: {v}\r\n" for k, v in headers.items())
        self.writer.write(
            f"POST / HTTP/1.1\r\nhost: {self.host}\r\n{head}"
            f"content-length: {len(body)}\r\n\r\n".encode()
            + body
        )
        status_line = await self.reader.readline()
        length = 0
        while (line := await self.reader.readline()) not in (b"\r\n", b""):
            name, _, value = line.decode().partition(":")
            if name.lower() == "content-length":
                length = int(value)
        return int(status_line.split()[1]), await self.reader.readexactly(length)

    async def close(self) -> None:
        self.writer.close()


async def drive(
    host: str, port: int, payloads: list[bytes], seconds: float, concurrency: int, event_type: str
) -> tuple[int, int, list[float], float]:
    headers = {
        "ce-specversion": "1.0",
        "ce-type": event_type,
        "ce-source": "/bench",
        "content-type": "application/json",
    }
    latencies: list[float] = []
    applied = batches = 0
    next_index = 1  # the first batch is the warm-up's

    async def sender(connection: Connection, deadline: float) -> None:
        nonlocal applied, batches, next_index
        while time.perf_counter() < deadline and next_index < len(payloads):
            body = payloads[next_index]
            next_index += 1
            h = {
                **headers,
                "ce-id": uuid.uuid4().hex,
                "ce-time": datetime.now(UTC).isoformat().replace("+00:00", "Z"),
            }
            t0 = time.perf_counter()
            status, answer = await connection.post(h, body)
            latencies.append(time.perf_counter() - t0)
            result = json.loads(answer)
            if status != 200 or result["status"] != "applied":
                raise SystemExit(f"unexpected answer {status}: {answer[:300]!r}")
            applied += result["events"]
            batches += 1

    connections = [Connection(host, port) for _ in range(concurrency)]
    for connection in connections:
        await connection.open()
    # Warm-up: loads the Lua script and the reference cache. With the FIRST batch: the last one
    # (as before 2026-12-07) moved every symbol's clock to the end of the run, so every measured
    # bar was older than its row (skipped) and every trade older than its window (not kept).
    await connections[0].post({**headers, "ce-id": "warm"}, payloads[0])
    start = time.perf_counter()
    await asyncio.gather(*(sender(c, start + seconds) for c in connections))
    elapsed = time.perf_counter() - start
    for connection in connections:
        await connection.close()
    return applied, batches, latencies, elapsed


def state_bytes(primaries: list[localstack.ServerProcess]) -> tuple[int, int]:
    """(symbols, bytes) of momentum's kept state on the primaries: what a rewrite-everything
    design would copy, and replicate, on every visit."""
    symbols = total = 0
    for node in primaries:
        with redis.Redis(host=node.host, port=node.port, **node.auth) as r:
            for key in r.scan_iter(match="sp:*:state:mom*:*", count=1000):
                if r.type(key) == b"string":
                    total += int(r.strlen(key))
                    symbols += b":state:mom:" in key
    return symbols, total


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--seconds", type=float, default=20.0, help="how long to send")
    parser.add_argument("--batch", type=int, default=500, help="events per CloudEvent")
    parser.add_argument("--symbols", type=int, default=8000, help="tickers in the universe")
    parser.add_argument("--concurrency", type=int, default=4, help="requests in flight")
    parser.add_argument("--function", choices=("movers", "momentum"), default="movers")
    parser.add_argument(
        "--redis-cluster",
        type=localstack.redis_primaries,
        default=1,
        metavar="N",
        help="Redis as a local Redis Cluster of N >= 3 primaries with a replica each (default 1: one "
        "redis-server); prints CPU per Redis node and the shards it serves",
    )
    parser.add_argument(
        "--trade-symbols",
        type=int,
        default=300,
        help="momentum: tickers the trades are spread over",
    )
    args = parser.parse_args(argv)

    workdir = Path(tempfile.mkdtemp(prefix="stampede-bench-functions-"))
    redis_store, redis_env = start_redis(workdir, args.redis_cluster)
    clustered = isinstance(redis_store, localstack.RedisCluster)
    nodes: list[localstack.ServerProcess] = list(redis_store.nodes)
    port = localstack.free_port()
    env = {
        **os.environ,
        **redis_env,
        "LOG_LEVEL": "WARNING",
        "FUNCTION_MAX_EVENT_AGE_SECONDS": "0",
    }
    function = localstack.ServerProcess(
        f"function-{args.function}",
        "127.0.0.1",
        port,
        workdir,
        workdir / "function.log",
        localstack.stampede_argv("function", args.function, port=port),
        env,
    )
    try:
        symbols = universe(args.symbols)
        seed_reference(redis_env["REDIS_URL"], symbols, clustered)
        sim_seconds = int(args.seconds * 200_000 / args.symbols) + 2  # enough batches for any rate
        if args.function == "movers":
            payloads = bodies(symbols, args.batch, sim_seconds)
            event_type = "dev.stampede.stocks.aggregate.v1"
        else:
            payloads = trade_bodies(
                symbols[: args.trade_symbols], args.batch, int(args.seconds * 400) + 10
            )
            event_type = "dev.stampede.stocks.trade.v1"
        function.start()
        print(
            f"{args.function} pid {function.pid}, redis {redis_env['REDIS_URL']}, "
            f"{len(payloads)} batches of {args.batch} prepared",
            flush=True,
        )
        processes = {"function": psutil.Process(function.pid)}
        processes |= {node.name: psutil.Process(node.pid) for node in nodes}
        probe_before = speed_probe_ms()
        roles = redis_store.roles()
        primaries = [n for n in nodes if roles.get(n.name) == "master"]
        work_before = primary_work(primaries)
        before = {k: sum(p.cpu_times()[:2]) for k, p in processes.items()}
        applied, batches, latencies, elapsed = asyncio.run(
            drive("127.0.0.1", port, payloads, args.seconds, args.concurrency, event_type)
        )
        cpu = {k: sum(p.cpu_times()[:2]) - before[k] for k, p in processes.items()}
        replicated, usec = (a - b for a, b in zip(primary_work(primaries), work_before))
        cpu["redis"] = sum(cpu[n.name] for n in primaries)
        cpu["replicas"] = sum(cpu[n.name] for n in nodes if n not in primaries)
        latencies.sort()

        def p(q: float) -> float:
            return latencies[min(int(q * len(latencies)), len(latencies) - 1)] * 1000

        print(f"applied {applied} events in {batches} CloudEvents over {elapsed:.1f} s")
        print(f"events/s: {applied / elapsed:,.0f}   CloudEvents/s: {batches / elapsed:,.1f}")
        print(
            f"request latency ms: p50 {p(0.5):.1f}  p99 {p(0.99):.1f}  "
            f"mean {statistics.mean(latencies) * 1000:.1f}"
        )
        # CPU per event does not depend on what else the machine runs (but on how fast the
        # machine is now: the probe): the capacity of one replica with a core of its own is
        # 1 / (function CPU per event).
        per_event = {k: v / applied * 1e6 for k, v in cpu.items()}
        print(
            f"CPU per event: function {per_event['function']:.1f} us, redis primaries "
            f"{per_event['redis']:.1f} us, their replicas {per_event['replicas']:.1f} us"
            f"  (function {cpu['function'] / elapsed:.0%} of a core, redis {cpu['redis'] / elapsed:.0%})"
        )
        print(
            f"redis commands (INFO commandstats, primaries): {usec / applied:.2f} us per event; "
            f"replicated {replicated / applied:,.1f} bytes per event, "
            f"{replicated / elapsed / 1e6:,.2f} MB/s"
        )
        print(
            f"capacity with a dedicated core each: function {1e6 / per_event['function']:,.0f} events/s, "
            f"redis {1e6 / per_event['redis']:,.0f} events/s"
        )
        print(
            f"speed probe: {probe_before} ms before, {speed_probe_ms()} ms after "
            "(a fixed Python loop; higher = slower machine)"
        )
        if args.function == "momentum":
            kept, size = state_bytes(primaries)
            print(f"momentum state: {size / max(kept, 1):,.0f} bytes per symbol ({kept} symbols)")
        if isinstance(redis_store, localstack.RedisCluster):
            print_per_node(redis_store, redis_env, cpu, applied, elapsed)
    finally:
        function.stop()
        redis_store.stop()
    return 0


def print_per_node(
    cluster: localstack.RedisCluster,
    redis_env: dict[str, str],
    cpu: dict[str, float],
    applied: int,
    elapsed: float,
) -> None:
    """Each Redis node's role, shards and CPU; the busiest primary bounds what one shard holds."""
    shards = int(redis_env["REDIS_SHARDS"])
    owners = shards_by_node(redis_env["REDIS_URL"], shards)
    roles = cluster.roles()
    print(f"Redis Cluster: {shards} shards over {cluster.primaries} primaries")
    for node in cluster.nodes:
        held = owners.get(node.port, [])
        print(
            f"  {node.name} {roles.get(node.name, '?'):<6} shards {held}: "
            f"{cpu[node.name] / elapsed:.0%} of a core, "
            f"{cpu[node.name] / applied * 1e6:.1f} us per event"
        )
    primaries = [n for n in cluster.nodes if roles.get(n.name) == "master"]
    busiest = max(primaries, key=lambda n: cpu[n.name])
    per_event = cpu[busiest.name] / applied * 1e6
    print(
        f"busiest primary {busiest.name} ({len(owners.get(busiest.port, []))} shards, "
        f"{per_event:.1f} us per event of all events): the cluster carries "
        f"{1e6 / per_event:,.0f} events/s when it fills a core of its own"
    )


if __name__ == "__main__":
    sys.exit(main())
