"""Builders for hand-made Massive events and CloudEvents used by the function tests."""

from __future__ import annotations

import asyncio
import contextlib
import uuid
from collections.abc import AsyncIterator
from datetime import UTC, date, datetime, time

import redis.asyncio as aioredis
from cloudevents.core.bindings import http as ce_http

from stampede import keys
from stampede.events import REFDATA_LOAD_TYPE, RawJSONFormat, market_batch_event
from stampede.functions.cli import create_app
from stampede.functions.settings import FunctionSettings
from stampede.market import Aggregate, Channel, Luld, Trade, encode
from stampede.markettime import et_ms
from stampede.service import serve_in_background
from stampede.tools.localstack import free_port

DAY = date(2025, 3, 14)  # a Friday, a normal session


def at(hhmmss: str, day: date = DAY) -> int:
    """Unix ms of an ET wall time on ``day``."""
    h, m, s = (int(x) for x in hhmmss.split(":"))
    return et_ms(day, time(h, m, s))


def bar(
    sym: str,
    hhmmss: str,
    c: float,
    av: float,
    op: float = 0.0,
    day: date = DAY,
    v: float = 100.0,
    a: float = 0.0,
) -> Aggregate:
    """A one-second bar ending at ``hhmmss`` ET."""
    end = at(hhmmss, day)
    return Aggregate(
        sym=sym, v=v, s=end - 1000, e=end, o=c, c=c, h=c, l=c, av=av, op=op, vw=c, a=a or c
    )


def trade(
    sym: str, t: int, p: float, s: float = 100, c: list[int] | None = None, q: int = 0
) -> Trade:
    return Trade(sym=sym, p=p, s=s, t=t, c=c or [], q=q, i=str(q), x=4, z=3)


def luld(sym: str, t: int, h: float, l: float, i: list[int] | None = None, q: int = 0) -> Luld:
    return Luld(T=sym, h=h, l=l, t=t, i=i or [], q=q, z=3)


def cloudevent(
    channel: Channel, events: list, event_id: str | None = None, time_: datetime | None = None
):
    return market_batch_event(
        channel,
        encode(events),
        "/test",
        event_id=event_id or uuid.uuid4().hex,
        time=time_ or datetime.now(UTC),
    )


def binary(event) -> tuple[dict[str, str], bytes]:
    message = ce_http.to_binary(event, RawJSONFormat())
    return message.headers, message.body


def structured(event) -> tuple[dict[str, str], bytes]:
    message = ce_http.to_structured(event, RawJSONFormat())
    return message.headers, message.body


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


async def seed_reference(
    redis: aioredis.Redis, prev_close: dict[str, float], adv: dict[str, float] | None = None
) -> None:
    """Reference data as the refdata function stores it (linear 04:00-20:00 profile)."""
    await redis.hset(keys.reference(DAY.isoformat(), "prev_close"), mapping=prev_close)
    if adv:
        await redis.hset(keys.reference(DAY.isoformat(), "adv"), mapping=adv)
    profile = {m: (m + 1 - 240) / 960 for m in range(240, 1200)}
    await redis.hset(keys.reference(DAY.isoformat(), "profile"), mapping=profile)
    await redis.hset(
        keys.reference(DAY.isoformat(), "meta"), mapping={"loaded_ms": 1, "sessions": 10}
    )


def binary_request(event_type: str) -> dict[str, str]:
    """Headers of a binary-mode CloudEvent request of ``event_type`` with a JSON body."""
    return {
        "ce-specversion": "1.0",
        "ce-type": event_type,
        "ce-source": "/test",
        "ce-id": uuid.uuid4().hex,
        "content-type": "application/json",
    }


def refdata_request() -> dict[str, str]:
    """Headers of a binary-mode reference-data load request (data ``{}`` or ``{"force": true}``)."""
    return binary_request(REFDATA_LOAD_TYPE)
