"""``localstack.redis_cluster``: real cluster-enabled redis-server nodes formed into one cluster
(the local stand-in `stampede up` and the cluster tests build on)."""

from __future__ import annotations

from collections import Counter
from pathlib import Path

import pytest
import redis

from stampede import keys
from stampede.tools import localstack


def test_three_primaries_with_replicas_serve_every_slot(tmp_path: Path) -> None:
    cluster = localstack.redis_cluster(tmp_path, primaries=3, replicas=1)
    cluster.start()
    try:
        assert sorted(cluster.roles().values()) == ["master"] * 3 + ["slave"] * 3
        first = cluster.nodes[0]
        client = redis.RedisCluster(
            host=first.host, port=first.port, decode_responses=True, **first.auth
        )
        names = [f"sp:2025-03-14:{{s{shard}}}:row:X" for shard in range(16)]  # many slots
        for name in names:
            client.set(name, name)
        assert [client.get(name) for name in names] == names
        slots = {client.keyslot(name) for name in names}
        owners = {client.get_node_from_key(name).port for name in names}
        assert len(slots) == 16 and len(owners) == 3  # spread over every primary
        client.close()
    finally:
        cluster.stop()


def test_every_primary_serves_the_same_number_of_symbol_shards(tmp_path: Path) -> None:
    cluster = localstack.redis_cluster(tmp_path, primaries=3, replicas=1, shards=12)
    cluster.start()
    try:
        first = cluster.nodes[0]
        client = redis.RedisCluster(host=first.host, port=first.port, **first.auth)
        boards = [keys.board("2025-03-14", "volume", shard) for shard in range(12)]
        for board in boards:  # every node agrees, so no write is redirected
            client.zadd(board, {"X": 1})
        served = Counter(client.get_node_from_key(board).port for board in boards)
        assert sorted(served.values()) == [4, 4, 4]  # --cluster create alone: 5/4/3
        expected = {shard: cluster.nodes[keys.tag_primary(shard, 3)].port for shard in range(12)}
        assert {s: client.get_node_from_key(b).port for s, b in enumerate(boards)} == expected
        client.close()
    finally:
        cluster.stop()


def test_every_node_refuses_a_client_without_the_user(tmp_path: Path) -> None:
    """Closed by default (issue 25): no default user, protected mode on, replicas log in."""
    cluster = localstack.redis_cluster(tmp_path, primaries=3, replicas=1)
    cluster.start()
    try:
        for node in cluster.nodes:
            anonymous = redis.Redis(host=node.host, port=node.port)
            with pytest.raises(redis.AuthenticationError):
                anonymous.ping()
            wrong = redis.Redis(host=node.host, port=node.port, username="stampede", password="x")
            with pytest.raises(redis.AuthenticationError):
                wrong.ping()
            client = redis.Redis(host=node.host, port=node.port, **node.auth)
            assert client.config_get("protected-mode") == {"protected-mode": "yes"}
            if client.info("replication")["role"] == "slave":
                assert client.info("replication")["master_link_status"] == "up"
    finally:
        cluster.stop()
