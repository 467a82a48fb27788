"""Reading boards from Redis: ranks and rows of every board asked for in one atomic read.

The read is one Lua script (``read_boards.lua``), so a board's rows are as new as its ranks
(sorted by its own metric) and a symbol on several boards has one row. The script may only
touch keys it is given, so it gets the row keys of the symbols it will probably meet: the
members its last few reads returned (``CANDIDATE_READS``), which include a few just below each
board's depth. A symbol that entered from further down is reported back and the read is
repeated with it (counted as a retry); each retry also looks four times further down, so boards
that move fast are soon known whole and a read does not chase them one symbol at a time. Only
the last few reads count, not every symbol ever seen: the key list is what a read costs the
gateway (packing it was half the gateway's CPU at 10k events/s when it carried the ~3,000
symbols of the last ten seconds), and boards led by the newest event (new highs, news) bring a
symbol from anywhere every tick, so no guess avoids their retry; a short list makes both calls
cheap. Decoded rows are kept a little longer (``KEEP_READS``) so a symbol back on a board is
not decoded again, but not for the whole day: over a trading day most of the universe passes
through some board.

With ``REDIS_SHARDS`` > 1 each board is one sorted set per symbol shard, and a symbol's row
lives in the shard of its board entries. A read is then one script call per shard, all sent at
once (on a Redis Cluster each goes to the primary holding that shard's slot): one round trip
per shard per tick. The script is a ``redisclient.Script``, loaded by one call when Redis
lacks it: concurrent reads that each loaded it themselves exhausted a cluster client's
connections. The shards' tops are merged by score; every row still comes from the same
atomic read as its own rank and score, so a board stays sorted by its own metric.

The cost of a read depends on the boards asked for and their depth, never on how many
clients watch them; a symbol that is on several boards is read once.
"""

from __future__ import annotations

import asyncio
from collections import deque
from dataclasses import dataclass
from datetime import datetime
from importlib import resources
from typing import Any

from stampede import keys
from stampede.boards import BOARDS_BY_NAME
from stampede.gateway import metrics
from stampede.gateway.rows import wire_row
from stampede.markettime import ET
from stampede.redisclient import RedisClient, Script

SCRIPT = (resources.files("stampede.gateway") / "read_boards.lua").read_text()
LOOKAHEAD = 8  # members read past each board's depth, as the next read's candidates
WIDENING = 4  # each retry reads this many times further past the depth
MAX_ATTEMPTS = 5  # a read that still misses rows after this many calls fails (retried later)
CANDIDATE_READS = 4  # a read's candidates: the members its last this many reads returned
KEEP_READS = 100  # a decoded row is kept this many reads after its symbol was last met (~10 s)

Row = dict[str, Any]


@dataclass(slots=True)
class BoardRead:
    """Rows of each board read (in rank order) and what the read cost."""

    boards: dict[str, list[Row]]
    commands: int  # Redis commands inside the read: one per board, one per distinct row
    round_trips: int  # script calls (more than one when a symbol entered from far down)
    row_keys: int = 0  # candidate row keys sent with the first call (the read's size)


class MissedRows(RuntimeError):
    """Boards changed faster than the reads could follow (after ``MAX_ATTEMPTS`` calls)."""


@dataclass(slots=True)
class ShardRead:
    """One shard's part of a read: each board's (score, member) top and the rows it holds."""

    tops: list[list[tuple[float, str]]]
    rows: dict[str, list[str]]
    calls: int
    members: set[str]  # every member the last call returned (with lookahead)
    row_keys: int


class BoardReader:
    """Consistent board reads for one Redis; remembers recent members and decoded rows."""

    def __init__(self, redis: RedisClient, shards: int = 1) -> None:
        self.redis = redis
        self.shards = shards
        self._script = Script(redis, SCRIPT)
        self._day = ""
        self._reads = 0
        self._met: dict[str, int] = {}  # symbol -> the read that last returned it
        self._recent: deque[list[set[str]]] = deque(maxlen=CANDIDATE_READS)  # per shard
        self._row_keys: dict[str, str] = {}  # symbol -> its row key (for the day)
        self._rows: dict[str, tuple[list[str], Row]] = {}  # symbol -> (raw HGETALL, wire row)

    def use(self, redis: RedisClient) -> None:
        """Read from ``redis`` from the next read on (the read source switched)."""
        self.redis = redis
        self._script = Script(redis, SCRIPT)

    async def read(self, day: str, depths: dict[str, int]) -> BoardRead:
        """The top ``depth`` rows of each board of ``depths`` for ``day``, each shard's part
        from one moment."""
        if not depths:
            return BoardRead({}, 0, 0)
        if day != self._day:
            self._day, self._met, self._rows, self._row_keys = day, {}, {}, {}
            self._recent.clear()
        self._reads += 1
        names = sorted(depths)
        parts = await asyncio.gather(
            *(
                self._read_shard(day, shard, names, depths, self._candidates(shard))
                for shard in range(self.shards)
            )
        )
        by_sym = {sym: self._wire(sym, raw) for part in parts for sym, raw in part.rows.items()}
        boards = {}
        for b, name in enumerate(names):
            merged = [entry for part in parts for entry in part.tops[b]]
            # one sorted set's order: ZREVRANGE is (score, member) descending, ZRANGE ascending
            merged.sort(reverse=not BOARDS_BY_NAME[name].ascending)
            boards[name] = [by_sym[sym] for _, sym in merged[: depths[name]]]
        self._recent.append([part.members for part in parts])
        self._met.update(dict.fromkeys(set().union(*(part.members for part in parts)), self._reads))
        self._forget()
        calls = sum(part.calls for part in parts)
        row_keys = sum(part.row_keys for part in parts)
        return BoardRead(boards, len(names) + len(by_sym), calls, row_keys)

    def _candidates(self, shard: int) -> set[str]:
        """The shard's members met in the last ``CANDIDATE_READS`` reads."""
        return set().union(*(read[shard] for read in self._recent))

    def _row_key(self, day: str, sym: str) -> str:
        key = self._row_keys.get(sym)
        if key is None:
            key = self._row_keys[sym] = keys.row(day, sym, self.shards)
        return key

    async def _read_shard(
        self, day: str, shard: int, names: list[str], depths: dict[str, int], candidates: set[str]
    ) -> ShardRead:
        """One atomic read of a shard, repeated with the members it reported missing."""
        board_keys = [keys.board(day, name, shard) for name in names]
        ranks = [
            depths[name] if not BOARDS_BY_NAME[name].ascending else -depths[name] for name in names
        ]
        first_keys = len(candidates)
        calls = 0
        while True:
            calls += 1
            tops, missing, rows = await self._script(
                [*board_keys, *(self._row_key(day, sym) for sym in candidates)],
                [len(names), *ranks, LOOKAHEAD * WIDENING ** (calls - 1)],
            )
            members = {sym for top in tops for sym in top[::2]}
            if not missing:
                break
            if calls == MAX_ATTEMPTS:
                raise MissedRows(f"rows still missing after {calls} reads: {missing[:5]}")
            metrics.READ_RETRIES.inc()
            candidates.update(missing, members)
        pairs = [
            [(float(score), sym) for sym, score in zip(top[::2], top[1::2], strict=True)]
            for top in tops
        ]
        tops_in_depth = [pair[: depths[name]] for name, pair in zip(names, pairs, strict=True)]
        return ShardRead(tops_in_depth, dict(rows), calls, members, first_keys)

    def _forget(self) -> None:
        """Drop symbols not met in the last ``KEEP_READS`` reads, and their decoded rows, so
        both are as big as what the boards showed lately, not as a day's whole universe."""
        if self._reads % 16:
            return
        oldest = self._reads - KEEP_READS
        self._met = {sym: read for sym, read in self._met.items() if read > oldest}
        self._rows = {sym: row for sym, row in self._rows.items() if sym in self._met}
        self._row_keys = {sym: key for sym, key in self._row_keys.items() if sym in self._met}

    def _wire(self, sym: str, raw: list[str]) -> Row:
        """The client row, decoded again only when its Redis fields changed."""
        cached = self._rows.get(sym)
        if cached is not None and cached[0] == raw:
            return cached[1]
        fields = dict(zip(raw[::2], raw[1::2]))
        row = wire_row(sym, fields)
        self._rows[sym] = (raw, row)
        return row


async def newest_day(redis: RedisClient) -> str | None:
    """The newest day that has a board in Redis (None on a fresh start)."""
    newest = ""
    async for key in redis.scan_iter(match=keys.BOARD_PATTERN, count=1000):
        day = keys.board_day(key)
        if day and day > newest:
            newest = day
    return newest or None


def today_et() -> str:
    return datetime.now(ET).date().isoformat()
