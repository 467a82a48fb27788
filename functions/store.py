"""Applying a batch to Redis: one Lua script call per CloudEvent, atomic and idempotent.

Each call does, inside Redis and in one round trip:
1. ``SET sp:{day}:seen:{id} NX EX`` - a CloudEvent already applied stops here (duplicate);
2. the batch's writes, each guarded so state only moves forward in exchange time
   (rows) or merges commutatively (momentum window buckets);
3. board trimming to the top/bottom K, expiry of the day's keys;
4. ``PUBLISH sp:changes`` with the boards touched, for the gateway to tick on.
The idempotency marker and the writes are one atomic unit, so a crash cannot leave a batch
half-applied-but-marked, and a redelivery cannot count twice.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

import msgspec
from redis.asyncio import Redis

from stampede import keys
from stampede.boards import BOARDS_BY_NAME

from stampede_functions.plan import RowWrite

_ROWS_LUA = r"""
local p = cmsgpack.unpack(ARGV[1])
if p.seen ~= '' and not redis.call('SET', p.seen, '1', 'NX', 'EX', p.seen_ttl) then
  return 0
end
local applied = 0
for _, r in ipairs(p.rows) do
  -- r = {row key, symbol, clock key, t, tie, {field, value, ...}, {board, score, ...}, {board, ...}}
  local row, sym, clock, t, tie = r[1], r[2], r[3], r[4], r[5]
  local cur = redis.call('HMGET', clock, sym, sym .. ':tie')
  local ct = tonumber(cur[1])
  if ct == nil or t > ct or (t == ct and tie >= (tonumber(cur[2]) or 0)) then
    applied = applied + 1
    redis.call('HSET', clock, sym, t, sym .. ':tie', tie)
    redis.call('HSET', row, unpack(r[6]))
    local u = tonumber(redis.call('HGET', row, 'updated_ms'))
    if u == nil or t > u then redis.call('HSET', row, 'updated_ms', t) end
    redis.call('EXPIRE', row, p.ttl)
    local adds = r[7]
    for i = 1, #adds, 2 do redis.call('ZADD', adds[i], adds[i + 1], sym) end
    for _, b in ipairs(r[8]) do redis.call('ZREM', b, sym) end
  end
end
for _, c in ipairs(p.clocks) do redis.call('EXPIRE', c, p.ttl) end
for _, b in ipairs(p.trim) do
  if b[3] == 1 then
    redis.call('ZREMRANGEBYRANK', b[1], b[2], -1)
  else
    redis.call('ZREMRANGEBYRANK', b[1], 0, -b[2] - 1)
  end
  redis.call('EXPIRE', b[1], p.ttl)
end
if applied > 0 then redis.call('PUBLISH', p.channel, p.message) end
return applied + 1
"""

_encoder = msgspec.msgpack.Encoder()
_json = msgspec.json.Encoder()


@dataclass(frozen=True, slots=True)
class Applied:
    """What one apply did: ``duplicate`` when the CloudEvent id was already applied."""

    duplicate: bool
    changed: int  # rows (or symbols) that moved
    boards: tuple[str, ...]
    day: str


class Store:
    """The Redis side of every function (scripts are loaded once, then run by EVALSHA)."""

    def __init__(self, redis: Redis, board_size: int, seen_ttl: int) -> None:
        self.redis = redis
        self.board_size = board_size
        self.seen_ttl = seen_ttl
        self._rows = redis.register_script(_ROWS_LUA)

    def header(self, day: str, event_id: str | None, boards: Iterable[str],
                exchange_ms: int, received_ms: int) -> dict:
        names = sorted(boards)
        message = {"day": day, "boards": names, "exchange_ms": exchange_ms,
                   "received_ms": received_ms}
        return {
            "seen": keys.seen(day, event_id) if event_id else "",
            "seen_ttl": self.seen_ttl,
            "ttl": keys.DAY_TTL_SECONDS,
            "channel": keys.CHANGES_CHANNEL,
            "message": _json.encode(message).decode(),
        }

    def trims(self, day_boards: Iterable[tuple[str, str]]) -> list[list]:
        return [
            [keys.board(day, name), self.board_size, 1 if BOARDS_BY_NAME[name].ascending else 0]
            for day, name in sorted(set(day_boards))
        ]

    async def apply_rows(
        self, writes: list[RowWrite], *, event_id: str | None, exchange_ms: int,
        received_ms: int, day: str,
    ) -> Applied:
        """Apply guarded row writes (movers, halts) for one CloudEvent."""
        rows = []
        day_boards: set[tuple[str, str]] = set()
        clocks: set[str] = set()
        for w in writes:
            clock = keys.state(w.day, f"clock:{w.clock}")
            clocks.add(clock)
            adds: list = []
            for name, score in w.scores.items():
                adds += [keys.board(w.day, name), score]
                day_boards.add((w.day, name))
            removes = [keys.board(w.day, name) for name in w.remove]
            day_boards.update((w.day, name) for name in w.remove)
            flat = [x for kv in w.fields.items() for x in kv]
            rows.append([keys.row(w.day, w.sym), w.sym, clock, w.t, w.tie, flat, adds, removes])
        boards = sorted({name for _, name in day_boards})
        payload = self.header(day, event_id, boards, exchange_ms, received_ms)
        payload.update(rows=rows, clocks=sorted(clocks), trim=self.trims(day_boards))
        result = int(await self._rows(args=[_encoder.encode(payload)]))
        return Applied(duplicate=result == 0, changed=max(result - 1, 0),
                       boards=tuple(boards), day=day)
