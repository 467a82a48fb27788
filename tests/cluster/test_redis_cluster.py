"""The scanner on a Redis Cluster of 3 primaries and 3 replicas: a primary is killed mid-stream.

One pipeline for the module, started as ``stampede up --redis-cluster 3 --replicas
momentum=2,movers=2`` runs it: six cluster-enabled redis-server processes made one cluster by
``redis-cli --cluster create``, ``REDIS_CLUSTER=true`` and 12 symbol shards (hash tags
``{s0}``..``{s11}``) whose slots are spread 4/4/4 over the three primaries, and two processes
each of the busiest functions, fed by the dispatcher by requests in flight. The simulated day
starts at 19:58:25 ET, so the feed can run for about 95 s of wall time; it is stopped
(``/_sim/feed/stop``) once 300 symbols printed a bar after the failover.

While it runs, a primary (each holds 4 shards) is killed with SIGKILL and stays dead.
Nothing is restarted: its replica must be promoted by the cluster itself, and the functions
and the gateway must follow the new slot map. Then:

- every symbol that printed a bar after the failover ends equal to the simulator's truth, rows
  and boards (merged over the shards) alike, and the gateway serves the merged volume board;
- nothing was counted twice: momentum's per-second trade counts are never above what the bridge
  published (recorded on core NATS), whatever was lost with the dead primary's last writes
  (replication is asynchronous), and equal to it once the failover is over.
"""

from __future__ import annotations

import asyncio
import time
from collections import Counter
from collections.abc import AsyncIterator

import httpx
import pytest
from redis.crc import key_slot

from stampede import keys
from stampede import metricnames as names
from stampede.tools import localstack
from support.convergence import (
    assert_converged,
    feed_stopped_after,
    flowing,
    momentum_counts,
    redis_of,
    traded_since,
    until,
)
from support.pipeline import Pipeline, running_pipeline
from support.recorder import TradeRecorder

pytestmark = pytest.mark.slow

START = "19:58:25"
SEED = 37


@pytest.fixture(scope="module")
async def pipeline(tmp_path_factory: pytest.TempPathFactory) -> AsyncIterator[Pipeline]:
    workdir = tmp_path_factory.mktemp("redis-cluster")
    cluster = ("--redis-cluster", "3", "--replicas", "momentum=2,movers=2")
    async with running_pipeline(workdir, start=START, seed=SEED, up_args=cluster) as p:
        yield p


def _cluster(p: Pipeline) -> localstack.RedisCluster:
    assert isinstance(p.scanner.redis, localstack.RedisCluster)
    return p.scanner.redis


def _shards_by_primary(p: Pipeline, day: str) -> dict[str, list[int]]:
    """Primary node name -> the symbol shards whose slot it serves (from CLUSTER SLOTS)."""
    r = redis_of(p)
    ports = {node.port: node.name for node in _cluster(p).nodes}
    owners: dict[str, list[int]] = {}
    for shard in range(p.scanner.redis_shards):
        node = r.get_node_from_key(keys.board(day, "volume", shard))
        owners.setdefault(ports[node.port], []).append(shard)
    r.close()
    return owners


async def test_keys_spread_over_every_primary(pipeline: Pipeline, recorder: TradeRecorder) -> None:
    await flowing(pipeline, "movers")
    await flowing(pipeline, "momentum")
    day = pipeline.truth(limit=1)["day"]
    owners = await asyncio.to_thread(_shards_by_primary, pipeline, day)
    assert sorted(map(len, owners.values())) == [4, 4, 4], owners  # an equal share each
    assert {key_slot(keys.row(day, "AAPL", 12).encode())} == {
        key_slot(keys.board(day, "volume", keys.shard_of("AAPL", 12)).encode())
    }  # a row shares its shard's slot
    r = redis_of(pipeline)
    for shards in owners.values():
        held = [r.zcard(keys.board(day, "volume", shard)) for shard in shards]
        assert sum(held) > 0, f"no volume board entries on shards {shards}"
    r.close()


async def test_every_replica_of_a_function_takes_a_share(pipeline: Pipeline) -> None:
    for function in ("movers", "momentum"):
        await flowing(pipeline, function)
        await flowing(pipeline, f"{function}-2")
        shares = pipeline.metrics("dispatch").by(
            names.DISPATCH_REPLICA_DELIVERIES, "replica", trigger=function
        )
        urls = {
            pipeline.status["services"][f"function-{n}"] + "/" for n in (function, f"{function}-2")
        }
        assert set(shares) == urls and all(n > 0 for n in shares.values()), shares


async def test_primary_killed_mid_stream(pipeline: Pipeline, facts: dict) -> None:
    """kill -9 of a primary: its replica is promoted, nothing is restarted, writes resume."""
    cluster = _cluster(pipeline)
    day = pipeline.truth(limit=1)["day"]
    owners = await asyncio.to_thread(_shards_by_primary, pipeline, day)
    victim = max(owners, key=lambda name: len(owners[name]))
    await asyncio.to_thread(pipeline.crash, victim)
    killed_ms = int(time.time() * 1000)
    await until(
        lambda: list(cluster.roles().values()).count("master") == 3,
        30,
        "a replica promoted to primary",
    )
    await asyncio.to_thread(cluster.wait_ok)
    await flowing(pipeline, "movers", timeout=60)
    await flowing(pipeline, "momentum", timeout=60)
    for name in ("function-movers", "function-momentum", "function-halts", "gateway", "dispatch"):
        assert pipeline.process(name).running, f"{name} died with a Redis primary"
    answer = await asyncio.to_thread(
        httpx.get, f"{pipeline.gateway_url}/api/boards/volume", params={"limit": 10}, timeout=10
    )
    assert answer.status_code == 200 and answer.json()["rows"]
    print(f"{victim} (shards {owners[victim]}) killed; writes resumed after the failover")
    facts["healthy_truth"] = await asyncio.to_thread(pipeline.truth, 0)
    facts["healthy_ms"] = int(time.time() * 1000)
    facts["killed_ms"] = killed_ms


async def test_boards_equal_truth(pipeline: Pipeline, facts: dict) -> None:
    if "healthy_truth" not in facts:
        pytest.skip("the failover did not finish")
    final = await feed_stopped_after(pipeline, facts["healthy_truth"])
    traded = traded_since(final, facts["healthy_truth"])
    assert len(traded) >= 10, f"only {len(traded)} symbols traded after the failover"
    await assert_converged(pipeline, final, traded)


async def test_no_trade_counted_twice(
    pipeline: Pipeline, recorder: TradeRecorder, facts: dict
) -> None:
    if "healthy_ms" not in facts:
        pytest.skip("the failover did not finish")
    await asyncio.to_thread(pipeline.wait_for_feed_end)
    await asyncio.sleep(3)  # the last deliveries land
    day = pipeline.truth(limit=1)["day"]
    per_second, per_minute, kept = await asyncio.to_thread(momentum_counts, pipeline, day)
    published = recorder.eligible_counts()
    published_per_minute: Counter[tuple[str, int]] = Counter()
    for (sym, second), n in published.items():
        published_per_minute[(sym, second // 60)] += n
    offset = pipeline.sim_offset_ms  # wall clock -> simulated exchange clock (speed 1)
    first_recorded = (recorder.started_ms + offset) // 1000 + 2
    healthy = (facts["healthy_ms"] + offset) // 1000 + 2
    assert per_second and per_minute, "no momentum state in Redis"
    twice = {
        k: (n, published[k])
        for k, n in per_second.items()
        if k[1] >= first_recorded and n > published[k]
    } | {
        k: (n, published_per_minute[k])
        for k, n in per_minute.items()
        if k[1] * 60 >= first_recorded and n > published_per_minute[k]
    }
    assert twice == {}, "trades counted more often than they were published"
    checked = [k for k in published if k[1] >= max(healthy, kept.get(k[0], healthy))]
    lost = {k: (per_second[k], published[k]) for k in checked if per_second[k] != published[k]}
    assert lost == {}, "trades published after the failover but not counted"
    assert checked, "no trades after the failover"
    print(f"{len(checked)} symbol-seconds after the failover equal to what was published")
