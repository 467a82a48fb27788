"""Reading boards from Redis: one pipelined round trip for the ranks, one for the rows.

The cost of a read depends on the boards asked for and their depth, never on how many
clients watch them: the hub calls this once per tick for all dirty boards together, and a
symbol that is on several boards is read once.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from redis.asyncio import Redis

from stampede import keys
from stampede.boards import BOARDS_BY_NAME, ROW_FIELDS
from stampede.gateway.rows import wire_row
from stampede.markettime import ET

_BOARD_KEY = re.compile(r"^" + re.escape(keys.PREFIX) + r":(\d{4}-\d{2}-\d{2}):board:")


@dataclass(slots=True)
class BoardRead:
    """Rows of each board read (in rank order) and the Redis commands it took."""

    boards: dict[str, list[dict[str, Any]]]
    commands: int
    round_trips: int


async def read_boards(redis: Redis, day: str, depths: dict[str, int]) -> BoardRead:
    """The top ``depth`` rows of each board of ``depths`` for ``day``."""
    if not depths:
        return BoardRead({}, 0, 0)
    names = sorted(depths)
    pipe = redis.pipeline(transaction=False)
    for name in names:
        pipe.zrange(
            keys.board(day, name), 0, depths[name] - 1, desc=not BOARDS_BY_NAME[name].ascending
        )
    members: list[list[str]] = await pipe.execute()
    symbols = sorted({sym for ranked in members for sym in ranked})
    rows: dict[str, dict[str, Any]] = {}
    if symbols:
        pipe = redis.pipeline(transaction=False)
        for sym in symbols:
            pipe.hmget(keys.row(day, sym), ROW_FIELDS)
        for sym, values in zip(symbols, await pipe.execute()):
            rows[sym] = wire_row(sym, values)
    boards = {name: [rows[sym] for sym in ranked] for name, ranked in zip(names, members)}
    return BoardRead(boards, len(names) + len(symbols), 2 if symbols else 1)


async def newest_day(redis: Redis) -> str | None:
    """The newest day that has a board in Redis (None on a fresh start)."""
    newest = ""
    async for key in redis.scan_iter(match=f"{keys.PREFIX}:*:board:*", count=1000):
        match = _BOARD_KEY.match(key)
        if match and match.group(1) > newest:
            newest = match.group(1)
    return newest or None


def today_et() -> str:
    return datetime.now(ET).date().isoformat()
