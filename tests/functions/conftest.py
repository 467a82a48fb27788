"""Fixtures of the function tests: a function served by uvicorn on a free port (real HTTP)."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Callable

import httpx
import pytest
import redis.asyncio as aioredis
from stampede.localstack import free_port
from stampede.service import serve_in_background
from stampede_functions.cli import create_app
from stampede_functions.settings import FunctionSettings


@contextlib.asynccontextmanager
async def serve_function(name: str, redis_url: str, **settings: object) -> AsyncIterator[str]:
    """Serve function ``name`` over real HTTP until the block ends; yields its base URL."""
    app = create_app(name, FunctionSettings(redis_url=redis_url, log_format="console", **settings))
    port = free_port()
    server, task = await serve_in_background(app, "127.0.0.1", port)
    for _ in range(500):
        if server.started:
            break
        await asyncio.sleep(0.01)
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        await asyncio.wait_for(task, 15)


@pytest.fixture
def function_server(redis_url: str) -> Callable:
    return lambda name, **settings: serve_function(name, redis_url, **settings)


@pytest.fixture
async def http() -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient(timeout=30, follow_redirects=True) as client:
        yield client


@pytest.fixture
async def redis(redis_url: str) -> AsyncIterator[aioredis.Redis]:
    client = aioredis.from_url(redis_url, decode_responses=True)
    yield client
    await client.aclose()
