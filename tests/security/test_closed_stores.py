"""Redis and NATS admit only the stack's user (issue 25: "Redis requires an ACL user and
password from a Secret, with protected-mode yes. NATS requires a user"). The local servers are
the ones `stampede up` and every test run; the components log in with REDIS_USERNAME /
REDIS_PASSWORD and NATS_USER / NATS_PASSWORD, as the cluster's Secrets set them."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Iterator
from pathlib import Path

import nats
import pytest
import redis
from nats.errors import NoServersError

from stampede import bus, redisclient
from stampede.settings import NatsSettings, RedisSettings, public_url
from stampede.tools import localstack


@pytest.fixture
def stores(tmp_path: Path) -> Iterator[tuple[localstack.RedisServer, localstack.RedisServer]]:
    primary = localstack.redis_server(tmp_path).start()
    replica = localstack.redis_server(tmp_path, replica_of=primary).start()
    yield primary, replica
    replica.stop()
    primary.stop()


def bare(url: str) -> str:
    """The URL without its credentials."""
    return public_url(url)


async def test_redis_refuses_anyone_but_its_user(stores) -> None:
    primary, replica = stores
    for server in stores:
        with pytest.raises(redis.AuthenticationError):
            redis.Redis.from_url(bare(server.url)).ping()
        with pytest.raises(redis.AuthenticationError):
            redis.Redis.from_url(bare(server.url), username="stampede", password="guess").ping()
    assert primary.credentials is not None
    settings = RedisSettings(
        redis_url=bare(primary.url),
        redis_username=primary.credentials.user,
        redis_password=primary.credentials.password,
    )
    client = redisclient.connect(settings, decode_responses=True)
    await client.set("sp:probe", "1")
    assert await client.config_get("protected-mode") == {"protected-mode": "yes"}
    await client.aclose()
    # the replica logs in to its primary with the same user and follows it
    follower = redis.Redis.from_url(replica.url, decode_responses=True)
    for _ in range(100):
        if follower.info("replication").get("master_link_status") == "up":
            break
        await asyncio.sleep(0.1)
    assert follower.info("replication")["master_link_status"] == "up"
    follower.close()


async def test_nats_refuses_anyone_but_its_user(tmp_path: Path) -> None:
    server = localstack.nats_server(tmp_path).start()
    try:
        with pytest.raises((NoServersError, nats.errors.Error)):
            await nats.connect(
                bare(server.url), allow_reconnect=False, max_reconnect_attempts=0, connect_timeout=2
            )
        assert server.credentials is not None
        settings = NatsSettings(
            nats_url=bare(server.url),
            nats_user=server.credentials.user,
            nats_password=server.credentials.password,
        )

        async def nothing() -> None:
            return None

        nc = await bus.connect(
            settings,
            name="probe",
            log=logging.getLogger("probe"),
            on_disconnected=nothing,
            on_reconnected=nothing,
        )
        assert nc.is_connected
        await nc.close()
    finally:
        server.stop()
