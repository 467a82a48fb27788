"""Shared fixtures: real nats-server (JetStream) and redis-server on free ports.

One of each per test session (starting them costs ~100 ms but there is no reason to pay it
per test); per-test fixtures hand out a clean Redis database and a NATS with no streams.
Tests that crash servers (fault tests) start their own with ``stampede.tools.localstack``.
"""

from __future__ import annotations

import asyncio
import functools
import inspect
import os
import time
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import nats
import pytest
import redis.asyncio as aioredis

from stampede.tools import localstack
from support.pipeline import Pipeline
from support.recorder import TradeRecorder, recording

REPO_ROOT = Path(__file__).resolve().parent.parent
ARTIFACTS = REPO_ROOT / "test-artifacts"
TEARDOWN_S = 40.0  # of a test's timeout, kept for its own `finally` and its fixtures' teardown
STARTED = pytest.StashKey[float]()


@pytest.fixture(scope="session")
def workdir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("stampede")


@pytest.fixture(scope="session")
def nats_server(workdir: Path) -> Iterator[localstack.NatsServer]:
    server = localstack.nats_server(workdir / "session").start()
    yield server
    server.stop()


@pytest.fixture(scope="session")
def redis_server(workdir: Path) -> Iterator[localstack.RedisServer]:
    server = localstack.redis_server(workdir / "session").start()
    yield server
    server.stop()


@pytest.fixture
async def redis_url(redis_server: localstack.RedisServer) -> AsyncIterator[str]:
    """A Redis URL whose database is empty at the start of the test."""
    client = aioredis.from_url(redis_server.url)
    await client.flushall()
    await client.aclose()
    yield redis_server.url


@pytest.fixture
async def nats_url(nats_server: localstack.NatsServer) -> AsyncIterator[str]:
    """A NATS URL whose JetStream has no streams at the start of the test."""
    nc = await nats.connect(nats_server.url)
    js = nc.jetstream()
    for name in [s.config.name for s in await js.streams_info()]:
        await js.delete_stream(name)
    await nc.close()
    yield nats_server.url


@pytest.fixture(scope="session")
def artifacts_dir() -> Path:
    ARTIFACTS.mkdir(exist_ok=True)
    return ARTIFACTS


def pytest_configure(config: pytest.Config) -> None:
    os.environ.setdefault("LOG_FORMAT", "console")
    config.addinivalue_line("markers", "xdist_group(name): pytest-xdist's unit of work")


@pytest.hookimpl(tryfirst=True)  # before xdist reads the groups
def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Units of work for ``--dist loadgroup`` (.ci/run runs two workers): a module with a slow
    test (the whole scanner, a bench run) joins the one "slow" unit, which one worker runs in
    order, so at most one of them runs at a time, beside the light tests; two whole scanners
    on 2 cores would starve each other into shedding, and a truth test would fail for that.
    Every other module is a unit of its own, so its module fixtures start once."""
    slow = {item.path for item in items if item.get_closest_marker("slow")}
    for item in items:
        group = "slow" if item.path in slow else str(item.path.relative_to(REPO_ROOT))
        item.add_marker(pytest.mark.xdist_group(group))
        if isinstance(item, pytest.Function) and inspect.iscoroutinefunction(item.obj):
            _cancel_before_the_timeout(item)


def _cancel_before_the_timeout(item: pytest.Function) -> None:
    """pytest-timeout's alarm fires inside the event loop, not in the test's coroutine, so a
    timed-out async test never reached its `finally`: its whole scanner and browser ran on
    into the next tests and starved them. The coroutine is cancelled first instead, at the
    timeout less TEARDOWN_S, so it fails with a TimeoutError and cleans up after itself."""
    marker = item.get_closest_marker("timeout")
    config = item.config
    limit = float(
        marker.args[0] if marker else config.getoption("timeout") or config.getini("timeout") or 0
    )
    if limit <= 0:
        return
    test = item.obj

    @functools.wraps(test)
    async def bounded(*args: Any, **kwargs: Any) -> Any:
        spent = time.monotonic() - item.stash[STARTED]  # its fixtures' setup counts too
        async with asyncio.timeout(max(limit - TEARDOWN_S - spent, 1.0)):
            return await test(*args, **kwargs)

    item.obj = bounded


@pytest.hookimpl(tryfirst=True)
def pytest_runtest_setup(item: pytest.Item) -> None:
    item.stash[STARTED] = time.monotonic()


# The crash tests (tests/faults, tests/cluster): each module defines its own `pipeline`; these
# record every trade it publishes and keep what the tests learn for the final comparison.
@pytest.fixture(scope="module")
async def recorder(pipeline: Pipeline) -> AsyncIterator[TradeRecorder]:
    async with recording(pipeline.nats_url) as rec:
        yield rec


@pytest.fixture(scope="module")
def facts() -> dict[str, Any]:
    """What the crash tests learned, for the final comparison."""
    return {}
