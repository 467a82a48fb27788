"""One way to reach Redis: a single server or a Redis Cluster, chosen by ``REDIS_CLUSTER``.

Every key a script touches carries its symbol shard's hash tag (``stampede.keys``), so the same
scripts run on both. With a cluster, redis-py's ``RedisCluster`` sends each call to the primary
that owns the slot, follows MOVED after a failover and refreshes its slot map by itself; the
``REDIS_URL`` then lists one or more of the cluster's nodes to learn that map from.

Redis requires a user (issue 25): ``REDIS_USERNAME``/``REDIS_PASSWORD`` (from a Secret in the
cluster) or credentials in ``REDIS_URL`` (the local stack's).

Lua scripts run through ``Script``, which loads each one once (SCRIPT LOAD, on every primary of
a cluster) behind a lock, before its first call and again after a NOSCRIPT (a restarted or
flushed Redis, a promoted replica). redis-py's own script object loads on every NOSCRIPT it
meets: on a cluster every call in flight at start-up then loads the script at the same time,
a storm that exhausted redis-py's cluster connections (MaxConnectionsError, answered as 500 by
the functions and the gateway).
"""

from __future__ import annotations

import asyncio
import hashlib
from collections.abc import Sequence
from typing import Any
from urllib.parse import urlsplit

from redis.asyncio import Redis, RedisCluster
from redis.asyncio.cluster import ClusterNode
from redis.exceptions import NoScriptError
from redis.typing import EncodableT

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
    password = settings.redis_password.get_secret_value()
    if password:  # from a Secret: over any credentials in the URL
        options.setdefault("username", settings.redis_username or None)
        options.setdefault("password", password)
    if not settings.redis_cluster:
        return Redis.from_url(url, **options)
    first = urlsplit(url.split(",")[0])
    if first.password:
        options.setdefault("password", first.password)
        options.setdefault("username", first.username)
    options.pop("health_check_interval", None)  # per-connection option of a single client
    return RedisCluster(startup_nodes=seeds(url), **options)


class Script:
    """A Lua script run by EVALSHA, loaded by one caller at a time when Redis lacks it."""

    def __init__(self, redis: RedisClient, text: str) -> None:
        self.text = text
        self.sha = hashlib.sha1(text.encode()).hexdigest()
        self._redis = redis
        self._loads = 0  # SCRIPT LOADs done: a caller that met NOSCRIPT before one reloads
        self._loading = asyncio.Lock()

    async def _load(self, seen: int) -> None:
        """Load the script unless another caller did since this one saw ``seen`` loads."""
        async with self._loading:
            if self._loads == seen:
                self.sha = await self._redis.script_load(self.text)
                self._loads += 1

    async def __call__(self, keys: Sequence[str], args: Sequence[EncodableT]) -> Any:
        loads = self._loads
        if not loads:
            await self._load(0)
            loads = self._loads
        try:
            return await self._redis.evalsha(self.sha, len(keys), *keys, *args)
        except NoScriptError:
            await self._load(loads)
            return await self._redis.evalsha(self.sha, len(keys), *keys, *args)
