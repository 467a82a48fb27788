"""Reading boards from Redis: ranks and rows of every board asked for in one atomic read.

The read is one Lua script (``read_boards.lua``), so a board's rows are as new as its ranks
(sorted by its own metric) and a symbol on several boards has one row. The script may only
touch keys it is given, so it gets the row keys of the symbols it will probably meet: the
members of the previous reads plus a few just below each board's depth. A symbol that entered
from further down is reported back and the read is repeated with it (counted as a retry); each
retry also looks four times further down, so boards that move fast are soon known whole and a
read does not chase them one symbol at a time.

The cost of a read depends on the boards asked for and their depth, never on how many
clients watch them; a symbol that is on several boards is read once.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from importlib import resources
from typing import Any

from redis.asyncio import Redis

from stampede import keys
from stampede.boards import BOARDS_BY_NAME
from stampede.gateway import metrics
from stampede.gateway.rows import wire_row
from stampede.markettime import ET

SCRIPT = (resources.files("stampede.gateway") / "read_boards.lua").read_text()
LOOKAHEAD = 8  # members read past each board's depth, as the next read's candidates
WIDENING = 4  # each retry reads this many times further past the depth
MAX_ATTEMPTS = 5  # a read that still misses rows after this many calls fails (retried later)
MAX_KNOWN = 20_000  # candidate symbols remembered (the whole universe is ~8,200)

Row = dict[str, Any]


@dataclass(slots=True)
class BoardRead:
    """Rows of each board read (in rank order) and what the read cost."""

    boards: dict[str, list[Row]]
    commands: int  # Redis commands inside the read: one per board, one per distinct row
    round_trips: int  # script calls (more than one when a symbol entered from far down)


class MissedRows(RuntimeError):
    """Boards changed faster than the reads could follow (after ``MAX_ATTEMPTS`` calls)."""


class BoardReader:
    """Consistent board reads for one Redis; remembers candidate symbols and decoded rows."""

    def __init__(self, redis: Redis) -> None:
        self.redis = redis
        self._script = redis.register_script(SCRIPT)
        self._day = ""
        self._known: set[str] = set()
        self._rows: dict[str, tuple[list[str], Row]] = {}  # symbol -> (raw HGETALL, wire row)

    async def read(self, day: str, depths: dict[str, int]) -> BoardRead:
        """The top ``depth`` rows of each board of ``depths`` for ``day``, all from one moment."""
        if not depths:
            return BoardRead({}, 0, 0)
        if day != self._day:
            self._day, self._known, self._rows = day, set(), {}
        names = sorted(depths)
        board_keys = [keys.board(day, name) for name in names]
        ranks = [
            depths[name] if not BOARDS_BY_NAME[name].ascending else -depths[name] for name in names
        ]
        calls = 0
        while True:
            calls += 1
            candidates = sorted(self._known)
            members, missing, rows = await self._script(
                keys=[*board_keys, *(keys.row(day, sym) for sym in candidates)],
                args=[len(names), *ranks, LOOKAHEAD * WIDENING ** (calls - 1), *candidates],
            )
            self._remember(sym for ranked in members for sym in ranked)
            if not missing:
                break
            if calls == MAX_ATTEMPTS:
                raise MissedRows(f"rows still missing after {calls} reads: {missing[:5]}")
            metrics.READ_RETRIES.inc()
            self._remember(missing)
        by_sym = {sym: self._wire(sym, raw) for sym, raw in rows}
        boards = {
            name: [by_sym[sym] for sym in ranked[: depths[name]]]
            for name, ranked in zip(names, members)
        }
        return BoardRead(boards, len(names) + len(rows), calls)

    def _remember(self, symbols: Any) -> None:
        if len(self._known) > MAX_KNOWN:
            self._known = set()
        self._known.update(symbols)

    def _wire(self, sym: str, raw: list[str]) -> Row:
        """The client row, decoded again only when its Redis fields changed."""
        cached = self._rows.get(sym)
        if cached is not None and cached[0] == raw:
            return cached[1]
        if len(self._rows) > MAX_KNOWN:
            self._rows = {}
        fields = dict(zip(raw[::2], raw[1::2]))
        row = wire_row(sym, fields)
        self._rows[sym] = (raw, row)
        return row


async def newest_day(redis: Redis) -> str | None:
    """The newest day that has a board in Redis (None on a fresh start)."""
    newest = ""
    async for key in redis.scan_iter(match=keys.BOARD_PATTERN, count=1000):
        day = keys.board_day(key)
        if day and day > newest:
            newest = day
    return newest or None


def today_et() -> str:
    return datetime.now(ET).date().isoformat()
