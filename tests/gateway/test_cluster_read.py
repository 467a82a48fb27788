"""Board reads on a real Redis Cluster while it lacks ``read_boards.lua`` (a fresh or flushed
cluster, a promoted replica): many concurrent reads, each one call per symbol shard, all
succeed.

Were each call that met NOSCRIPT to load the script itself (redis-py's own script object), every
call in flight would send SCRIPT LOAD to every primary at once and exhaust the cluster client's
connections (MaxConnectionsError: a 500 on REST); ``redisclient.Script`` loads it once.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Iterator

import pytest
from redis.asyncio import RedisCluster

from stampede import keys, redisclient
from stampede.gateway.store import BoardReader
from stampede.settings import RedisSettings
from stampede.tools import localstack
from support.gateway import DAY, row_fields

SHARDS = 12  # as `stampede up --redis-cluster 3` runs it
SYMBOLS = [f"C{i:02d}" for i in range(60)]
READS = 10  # concurrent reads: 120 script calls in flight, ~40 per primary


@pytest.fixture(scope="module")
def cluster(tmp_path_factory: pytest.TempPathFactory) -> Iterator[localstack.RedisCluster]:
    nodes = localstack.redis_cluster(tmp_path_factory.mktemp("read-cluster"), replicas=0)
    nodes.start()
    yield nodes
    nodes.stop()


@pytest.fixture
async def redis(cluster: localstack.RedisCluster) -> AsyncIterator[RedisCluster]:
    url = cluster.url  # every node, with the cluster's user
    client = redisclient.connect(
        RedisSettings(redis_url=url, redis_cluster=True), decode_responses=True
    )
    assert isinstance(client, RedisCluster)
    pipe = client.pipeline(transaction=False)
    for i, sym in enumerate(SYMBOLS):
        pipe.hset(keys.row(DAY, sym, SHARDS), mapping=row_fields(sym, 10, 10, 1000 * (i + 1), 1))
        pipe.zadd(keys.board(DAY, "volume", keys.shard_of(sym, SHARDS)), {sym: 1000 * (i + 1)})
    await pipe.execute()
    yield client
    await client.aclose()


async def flush_scripts(redis: RedisCluster) -> None:
    await redis.execute_command("SCRIPT FLUSH", target_nodes=RedisCluster.ALL_NODES)


async def concurrent_reads(reader: BoardReader) -> list[list[str]]:
    reads = await asyncio.gather(*(reader.read(DAY, {"volume": 10}) for _ in range(READS)))
    return [[row["sym"] for row in read.boards["volume"]] for read in reads]


async def test_concurrent_first_reads_on_a_cluster_without_the_script(redis: RedisCluster) -> None:
    await flush_scripts(redis)
    reader = BoardReader(redis, SHARDS)  # as the hub's: shared by the ticker and every REST read
    top = SYMBOLS[::-1][:10]
    assert await concurrent_reads(reader) == [top] * READS
    await flush_scripts(redis)  # a restarted Redis, a promoted replica: NOSCRIPT mid-run
    assert await concurrent_reads(reader) == [top] * READS
