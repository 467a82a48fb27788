"""Through the simulated open, every board is in its own order and a symbol has one row.

The whole scanner runs as `stampede up` runs it (seed 7 from 09:29:30 ET, twice real time,
the gateway on its Redis replica). One client applies WebSocket snapshots and diffs of many
boards, as a dashboard does; another polls every board over REST. After every applied message
the board must be sorted by its own metric; once all messages of a tick are applied, a symbol
on several boards must show the same row on each. The REST snapshots must be sorted too.
"""

from __future__ import annotations

import asyncio
import contextlib
from datetime import datetime
from typing import Any

import httpx
import orjson
import pytest

from stampede.markettime import ET
from support.gateway import ReferenceClient, disagreeing, unsorted
from support.pipeline import Pipeline

pytestmark = pytest.mark.slow

BOARDS = ("gainers", "losers", "gappers", "from_open", "volume", "rvol", "momentum_1m")
UNTIL = "09:31:30"  # simulated ET: the first 90 s of the opening burst


@pytest.fixture(scope="module")
async def scanner(tmp_path_factory: pytest.TempPathFactory):
    p = Pipeline(tmp_path_factory.mktemp("open"), start="09:29:30", seed=7, speed=2.0)
    try:
        await asyncio.to_thread(p.start)
        yield p
    finally:
        await asyncio.to_thread(p.stop)


async def sim_clock_et(http: httpx.AsyncClient, sim_url: str) -> str:
    clock = (await http.get(f"{sim_url}/_sim/clock")).json()
    return datetime.fromtimestamp(clock["sim_ms"] / 1000, ET).strftime("%H:%M:%S")


class Checks:
    def __init__(self) -> None:
        self.problems: list[str] = []
        self.ticks = 0
        self.shared = 0  # symbol/board pairs compared across boards
        self.rest = 0

    def board(self, where: str, board: str, rows: list[dict[str, Any]]) -> None:
        self.problems += [f"{where}: {p}" for p in unsorted(board, rows)]

    def tick(self, views: dict[str, list[dict[str, Any]]]) -> None:
        self.ticks += 1
        counts: dict[str, int] = {}
        for rows in views.values():
            for row in rows:
                counts[row["sym"]] = counts.get(row["sym"], 0) + 1
        self.shared += sum(n for n in counts.values() if n > 1)
        self.problems += [f"tick: {p}" for p in disagreeing(views)]


async def watch(client: ReferenceClient, checks: Checks, done: asyncio.Event) -> None:
    """Apply every message; check its board now and all boards when a tick is complete."""
    tick_ms = None
    while not done.is_set():
        try:
            message = orjson.loads(await asyncio.wait_for(client.ws.recv(), 1.0))
        except TimeoutError:
            continue
        if message["type"] in ("snapshot", "diff") and message["tick_ms"] != tick_ms:
            if tick_ms is not None:  # every message of the previous tick is applied
                checks.tick({sid: s.view or [] for sid, s in client.subs.items()})
            tick_ms = message["tick_ms"]
        client.handle(message)
        if message["type"] not in ("snapshot", "diff"):
            continue
        checks.board(
            f"ws {message['type']} seq {message['seq']}",
            message["board"],
            client.subs[message["id"]].view or [],
        )


async def poll(base: str, sim_url: str, checks: Checks, done: asyncio.Event) -> None:
    async with httpx.AsyncClient(base_url=base, timeout=10) as http:
        while await sim_clock_et(http, sim_url) < UNTIL:
            for board in BOARDS:
                snapshot = (await http.get(f"/api/boards/{board}", params={"limit": 20})).json()
                checks.rest += bool(snapshot["rows"])
                checks.board(f"rest {board}", board, snapshot["rows"])
            await asyncio.sleep(0.2)
    done.set()


async def test_boards_are_sorted_and_rows_agree_through_the_open(scanner: Pipeline) -> None:
    checks, done = Checks(), asyncio.Event()
    async with ReferenceClient.connect(scanner.gateway_url.replace("http", "ws") + "/ws") as client:
        for board in BOARDS:
            await client.subscribe(board, board, 20)
        watcher = asyncio.create_task(watch(client, checks, done))
        try:
            await asyncio.wait_for(poll(scanner.gateway_url, scanner.sim_url, checks, done), 240)
        finally:
            done.set()
            with contextlib.suppress(asyncio.CancelledError):
                await watcher
    assert checks.problems == [], checks.problems[:10]
    diffs = sum(s.diffs for s in client.subs.values())  # ...and it looked at enough
    assert diffs > 150 and checks.ticks > 30, (diffs, checks.ticks)
    assert checks.shared > 100, "too few symbols on several boards to compare"
    assert checks.rest > 100
