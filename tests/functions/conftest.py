"""Fixtures of the function tests: a function served by uvicorn on a free port (real HTTP)."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable

import httpx
import pytest
import redis.asyncio as aioredis

from support.functions import serve_function


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
