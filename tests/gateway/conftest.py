"""Fixtures of the gateway's browser tests."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest
import redis.asyncio as aioredis

from support.browser import TICKERS, DemoMarket


@pytest.fixture
async def demo_market(redis_url: str) -> AsyncIterator[DemoMarket]:
    """The demo market written into the test's clean Redis, as the scoring functions write it."""
    redis = aioredis.from_url(redis_url)
    market = DemoMarket(redis)
    await market.write(TICKERS)
    yield market
    await redis.aclose()
