"""Gateway test helpers: run the gateway in-process, write boards like the functions do,
and a reference client that applies snapshots + diffs and checks the sequence numbers."""

from __future__ import annotations

import asyncio
import contextlib
import random
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from typing import Any

import orjson
import redis.asyncio as aioredis
import uvicorn
import websockets

from stampede import keys
from stampede.boards import BOARDS_BY_NAME
from stampede.gateway.app import create_app
from stampede.gateway.cli import server_options
from stampede.gateway.diff import apply, from_wire
from stampede.gateway.settings import GatewaySettings
from stampede.service import uvicorn_config
from stampede.tools import localstack

DAY = "2025-03-14"
FAST = {
    "gateway_auth": "off",  # tests of auth set a token (test_rest_auth.py)
    "gateway_max_tick_hz": 20.0,
    "gateway_refresh_seconds": 30.0,
    "gateway_heartbeat_seconds": 0.5,
}


# For tests of the protocol itself, which send far more than a person would: no rate limit.
UNLIMITED_MESSAGES = {
    "GATEWAY_AUTH": "off",
    "GATEWAY_CLIENT_MESSAGES_PER_SECOND": "1000000",
    "GATEWAY_CLIENT_MESSAGE_BURST": "1000000",
}


@dataclass
class Gateway:
    url: str  # http://host:port
    settings: GatewaySettings
    app: Any

    @property
    def ws_url(self) -> str:
        return self.url.replace("http://", "ws://") + "/ws"

    @property
    def hub(self):
        return self.app.state.hub


@contextlib.asynccontextmanager
async def running_gateway(
    redis_url: str, port: int | None = None, **overrides: Any
) -> AsyncIterator[Gateway]:
    settings = GatewaySettings(redis_url=redis_url, **{**FAST, **overrides})
    app = create_app(settings)
    port = port or localstack.free_port()
    server = uvicorn.Server(uvicorn_config(app, "127.0.0.1", port, **server_options(settings)))
    task = asyncio.create_task(server._serve())  # as serve_in_background, with our options
    for _ in range(200):
        if server.started:
            break
        await asyncio.sleep(0.02)
    try:
        yield Gateway(f"http://127.0.0.1:{port}", settings, app)
    finally:
        server.should_exit = True
        await asyncio.wait_for(task, 15)


async def publish(
    redis: aioredis.Redis, day: str, boards: list[str], exchange_ms: int, received_ms: int
) -> None:
    await redis.publish(
        keys.CHANGES_CHANNEL,
        orjson.dumps(
            {"day": day, "boards": boards, "exchange_ms": exchange_ms, "received_ms": received_ms}
        ),
    )


def row_fields(
    sym: str, last: float, prev_close: float, volume: int, t: int, **extra: Any
) -> dict[str, str]:
    """A row hash as the scoring functions write it (every value a string)."""
    change = (last - prev_close) / prev_close * 100
    fields = {
        "sym": sym,
        "last": f"{last:.4f}",
        "prev_close": f"{prev_close:.4f}",
        "change_pct": f"{change:.4f}",
        "volume": str(volume),
        "has_reference": "1",
        "halted": "0",
        "updated_ms": str(t),
    }
    fields.update({k: str(v) for k, v in extra.items()})
    return fields


class Market:
    """Random board churn written to Redis the way the functions write it, then notified."""

    def __init__(
        self, redis: aioredis.Redis, day: str = DAY, symbols: int = 60, seed: int = 7
    ) -> None:
        self.redis, self.day = redis, day
        self.rng = random.Random(seed)
        self.symbols = [f"S{i:03d}" for i in range(symbols)]
        self.prev = {s: self.rng.uniform(0.5, 40) for s in self.symbols}
        self.last = dict(self.prev)
        self.volume = {s: self.rng.randint(0, 50_000) for s in self.symbols}
        self.t = 1_741_958_000_000

    async def step(
        self, boards: tuple[str, ...] = ("gainers", "volume"), changes: int = 8, removes: int = 1
    ) -> None:
        """Change some rows (price, volume, rank), drop some from boards, publish."""
        self.t += self.rng.randint(1, 500)
        pipe = self.redis.pipeline(transaction=True)
        for sym in self.rng.sample(self.symbols, changes):
            self.last[sym] = max(0.01, self.last[sym] * self.rng.uniform(0.9, 1.12))
            self.volume[sym] += self.rng.randint(0, 20_000)
            fields = row_fields(sym, self.last[sym], self.prev[sym], self.volume[sym], self.t)
            pipe.hset(keys.row(self.day, sym), mapping=fields)
            for name in boards:
                metric = BOARDS_BY_NAME[name].metric
                pipe.zadd(keys.board(self.day, name), {sym: float(fields[metric])})
        for sym in self.rng.sample(self.symbols, removes):
            for name in boards:
                pipe.zrem(keys.board(self.day, name), sym)
        await pipe.execute()
        await publish(self.redis, self.day, list(boards), self.t, _wall_ms())


def _wall_ms() -> int:
    return int(time.time() * 1000)


@dataclass
class Subscription:
    seq: int | None = None
    view: list[dict[str, Any]] | None = None
    snapshots: list[str] = field(default_factory=list)  # reasons
    diffs: int = 0


class ReferenceClient:
    """Applies snapshots and diffs exactly as a browser must; asserts consecutive seqs."""

    def __init__(self, ws: Any) -> None:
        self.ws = ws
        self.subs: dict[str, Subscription] = {}
        self.messages: list[dict[str, Any]] = []
        self.hello: dict[str, Any] | None = None

    @classmethod
    @contextlib.asynccontextmanager
    async def connect(cls, url: str, **kwargs: Any) -> AsyncIterator[ReferenceClient]:
        async with websockets.connect(url, max_size=None, **kwargs) as ws:
            yield cls(ws)

    async def send(self, message: dict[str, Any]) -> None:
        await self.ws.send(orjson.dumps(message).decode())

    async def subscribe(self, sub_id: str, board: str, limit: int = 20, **filters: float) -> None:
        message: dict[str, Any] = {
            "type": "subscribe",
            "id": sub_id,
            "board": board,
            "limit": limit,
        }
        if filters:
            message["filters"] = filters
        self.subs.setdefault(sub_id, Subscription())
        await self.send(message)

    def handle(self, message: dict[str, Any]) -> None:
        self.messages.append(message)
        kind = message["type"]
        if kind == "hello":
            self.hello = message
        elif kind == "snapshot":
            sub = self.subs.setdefault(message["id"], Subscription())
            sub.seq, sub.view = message["seq"], message["rows"]
            sub.snapshots.append(message["reason"])
        elif kind == "diff":
            sub = self.subs[message["id"]]
            assert sub.view is not None, "diff before snapshot"
            assert message["seq"] == sub.seq + 1, f"seq gap: had {sub.seq}, got {message['seq']}"
            sub.view = apply(from_wire(message), sub.view)
            sub.seq = message["seq"]
            sub.diffs += 1

    async def receive(self, timeout: float = 5.0) -> dict[str, Any]:
        message = orjson.loads(await asyncio.wait_for(self.ws.recv(), timeout))
        self.handle(message)
        return message

    async def until(self, predicate, timeout: float = 10.0) -> dict[str, Any]:
        """Receive until a message satisfies ``predicate``; returns that message."""
        deadline = asyncio.get_running_loop().time() + timeout
        while True:
            left = deadline - asyncio.get_running_loop().time()
            if left <= 0:
                raise TimeoutError("expected message did not arrive")
            message = await self.receive(left)
            if predicate(message):
                return message

    async def drain(self, quiet: float = 0.3) -> None:
        """Receive until no board message (heartbeats aside) arrives for ``quiet`` seconds."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + quiet
        while (left := deadline - loop.time()) > 0:
            try:
                message = await self.receive(left)
            except TimeoutError:
                return
            if message["type"] != "heartbeat":
                deadline = loop.time() + quiet


def unsorted(board: str, rows: list[dict[str, Any]]) -> list[str]:
    """Where ``rows`` break the board's own order (its metric, highest first unless ascending);
    a ranked row without its metric is a break too."""
    spec = BOARDS_BY_NAME[board]
    problems = []
    for rank, (above, below) in enumerate(zip(rows, rows[1:])):
        a, b = above.get(spec.metric), below.get(spec.metric)
        if a is None or b is None or (a > b if spec.ascending else a < b):
            problems.append(
                f"{board} rank {rank}: {above['sym']} {spec.metric}={a} above {below['sym']}={b}"
            )
    return problems


def disagreeing(views: dict[str, list[dict[str, Any]]]) -> list[str]:
    """Symbols shown with different rows on different boards (views read at one tick)."""
    seen: dict[str, tuple[str, dict[str, Any]]] = {}
    problems = []
    for board, rows in views.items():
        for row in rows:
            first = seen.setdefault(row["sym"], (board, row))
            if first[1] != row:
                fields = sorted(k for k in {*first[1], *row} if first[1].get(k) != row.get(k))
                problems.append(
                    f"{row['sym']}: "
                    + ", ".join(
                        f"{k} {first[1].get(k)} on {first[0]}, {row.get(k)} on {board}"
                        for k in fields
                    )
                )
    return problems
