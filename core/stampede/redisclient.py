"""One way to reach Redis: a single server or a Redis Cluster, chosen by ``REDIS_CLUSTER``.

Every key a script touches carries its symbol shard's hash tag (``stampede.keys``), so the same
scripts run on both. With a cluster, redis-py's ``RedisCluster`` sends each call to the primary
that owns the slot, follows MOVED after a failover and refreshes its slot map by itself; the
``REDIS_URL`` then lists one or more of the cluster's nodes to learn that map from.
"""

from __future__ import annotations

from typing import Any
from urllib.parse import urlsplit

from redis.asyncio import Redis, RedisCluster
from redis.asyncio.cluster import ClusterNode

from stampede.settings import RedisSettings

RedisClient = Redis | RedisCluster


def seeds(url: str) -> list[ClusterNode]:
    """The nodes named in a (comma-separated) ``REDIS_URL``, to discover a cluster from."""
    nodes = []
    for part in filter(None, (p.strip() for p in url.split(","))):
        address = urlsplit(part)
        nodes.append(ClusterNode(address.hostname or "127.0.0.1", address.port or 6379))
    return nodes


def connect(settings: RedisSettings, url: str | None = None, **options: Any) -> RedisClient:
    """A client for ``url`` (default ``REDIS_URL``) with the caller's timeouts and decoding."""
    url = url or settings.redis_url
    if not settings.redis_cluster:
        return Redis.from_url(url, **options)
    first = urlsplit(url.split(",")[0])
    if first.password:
        options.setdefault("password", first.password)
        options.setdefault("username", first.username)
    options.pop("health_check_interval", None)  # per-connection option of a single client
    return RedisCluster(startup_nodes=seeds(url), **options)
