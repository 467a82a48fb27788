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
from opentelemetry import propagate, trace
from redis.asyncio import Redis

from stampede import changes, keys
from stampede.boards import BOARDS_BY_NAME
from stampede.functions.plan import RowWrite

_ROWS_LUA = r"""
local p = cmsgpack.unpack(ARGV[1])
if p.seen ~= '' and not redis.call('SET', p.seen, '1', 'NX', 'EX', p.seen_ttl) then
  return 0
end
-- Variadic commands are sent in chunks to stay far below Lua's C stack limit.
local function chunked(cmd, key, args)
  for i = 1, #args, 4000 do
    redis.call(cmd, key, unpack(args, i, math.min(i + 3999, #args)))
  end
end
local boards, fmt = p.boards, string.format
local applied = 0
local adds, rems = {}, {}  -- board index -> {score, member, ...} / {member, ...}
for _, g in ipairs(p.groups) do
  -- g = {clock key, row key prefix, rows, updated_ms mirror}; row = {symbol, t, tie, {field = value, ...},
  --      {board index, score, ...}, {board index, ...}, {static field = value, ...}}
  local clock, prefix, rows = g[1], g[2], g[3]
  local wanted = {}
  for i, r in ipairs(rows) do
    wanted[2 * i - 1] = r[1]
    wanted[2 * i] = r[1] .. ':tie'
  end
  local cur = redis.call('HMGET', clock, unpack(wanted))
  -- Every row's updated_ms (newest exchange time from any function) is mirrored in one hash
  -- per day, read for the whole group at once instead of one HGET per row.
  local syms = {}
  for i, r in ipairs(rows) do syms[i] = r[1] end
  local known = redis.call('HMGET', g[4], unpack(syms))
  local updated, newest = {}, {}  -- symbol -> updated_ms; {symbol, ms, ...} to store
  for i, sym in ipairs(syms) do updated[sym] = tonumber(known[i]) end
  local moved = {}
  for i, r in ipairs(rows) do
    local sym, t, tie = r[1], r[2], r[3]
    local ct = tonumber(cur[2 * i - 1])
    if ct == nil or t > ct or (t == ct and tie >= (tonumber(cur[2 * i]) or 0)) then
      applied = applied + 1
      local n = #moved
      moved[n + 1], moved[n + 2], moved[n + 3], moved[n + 4] = sym, t, sym .. ':tie', tie
      local key, out, n = prefix .. sym, {}, 0
      for name, v in pairs(r[4]) do
        out[n + 1], out[n + 2] = name, type(v) == 'number' and fmt('%.10g', v) or v
        n = n + 2
      end
      if ct == nil or math.floor(t / 60000) ~= math.floor(ct / 60000) then
        for name, v in pairs(r[7]) do
          out[n + 1], out[n + 2] = name, type(v) == 'number' and fmt('%.10g', v) or v
          n = n + 2
        end
      end
      local u = updated[sym]
      if u == nil or t > u then
        updated[sym] = t
        out[#out + 1] = 'updated_ms'
        out[#out + 1] = fmt('%d', t)
        newest[#newest + 1] = sym
        newest[#newest + 1] = t
      end
      redis.call('HSET', key, unpack(out))
      if ct == nil then redis.call('EXPIRE', key, p.ttl) end
      local scores = r[5]
      for j = 1, #scores, 2 do
        local list = adds[scores[j]]
        if list == nil then list = {}; adds[scores[j]] = list end
        list[#list + 1] = scores[j + 1]
        list[#list + 1] = sym
      end
      for _, b in ipairs(r[6]) do
        local list = rems[b]
        if list == nil then list = {}; rems[b] = list end
        list[#list + 1] = sym
      end
    end
  end
  if #moved > 0 then chunked('HSET', clock, moved) end
  if #newest > 0 then chunked('HSET', g[4], newest) end
  redis.call('EXPIRE', clock, p.ttl)
  redis.call('EXPIRE', g[4], p.ttl)
end
for b, list in pairs(rems) do chunked('ZREM', boards[b], list) end
-- A full capped board only admits scores that beat its K-th member; the others would be
-- trimmed right away, so they are removed (a cheap miss for non-members) instead of inserted.
local caps = {}
for _, c in ipairs(p.trim) do caps[c[1]] = c end
for b, list in pairs(adds) do
  local key, cap, threshold, ascending = boards[b], caps[b], nil, false
  if cap then
    ascending = cap[3] == 1
    local edge = redis.call(ascending and 'ZRANGE' or 'ZREVRANGE', key, cap[2] - 1, cap[2] - 1, 'WITHSCORES')
    if #edge == 2 then threshold = tonumber(edge[2]) end
  end
  if threshold == nil then
    chunked('ZADD', key, list)
  else
    local keep, drop = {}, {}
    for j = 1, #list, 2 do
      local score = list[j]
      if (ascending and score <= threshold) or (not ascending and score >= threshold) then
        keep[#keep + 1] = score
        keep[#keep + 1] = list[j + 1]
      else
        drop[#drop + 1] = list[j + 1]
      end
    end
    if #drop > 0 then chunked('ZREM', key, drop) end
    if #keep > 0 then chunked('ZADD', key, keep) end
  end
end
for _, c in ipairs(p.trim) do
  local key = boards[c[1]]
  if c[3] == 1 then
    redis.call('ZREMRANGEBYRANK', key, c[2], -1)
  else
    redis.call('ZREMRANGEBYRANK', key, 0, -c[2] - 1)
  end
  redis.call('EXPIRE', key, p.ttl)
end
if applied > 0 then redis.call('PUBLISH', p.channel, p.message) end
return applied + 1
"""

UPDATED = "updated_ms"  # state hash mirroring each row's updated_ms (symbol -> ms)

_encoder = msgspec.msgpack.Encoder()


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
        self._keys: dict[tuple[str, str, str], str] = {}

    def _key(self, kind: str, day: str, name: str) -> str:
        """Board and clock keys, memoised: a batch names the same few hundred times."""
        key = self._keys.get((kind, day, name))
        if key is None:
            if len(self._keys) > 1000:
                self._keys.clear()
            key = keys.board(day, name) if kind == "board" else keys.state(day, f"clock:{name}")
            self._keys[(kind, day, name)] = key
        return key

    def header(
        self,
        day: str,
        event_id: str | None,
        boards: Iterable[str],
        exchange_ms: int,
        received_ms: int,
    ) -> dict[str, object]:
        traceparent = ""
        if trace.get_current_span().is_recording():  # tracing on: the gateway links its tick here
            carrier: dict[str, str] = {}
            propagate.inject(carrier)
            traceparent = carrier.get("traceparent", "")
        notice = changes.ChangeNotice(
            day=day,
            boards=sorted(boards),
            exchange_ms=exchange_ms,
            received_ms=received_ms,
            traceparent=traceparent,
        )
        return {
            "seen": keys.seen(day, event_id) if event_id else "",
            "seen_ttl": self.seen_ttl,
            "ttl": keys.DAY_TTL_SECONDS,
            "channel": keys.CHANGES_CHANNEL,
            "message": changes.encode(notice).decode(),
        }

    async def apply_rows(
        self,
        writes: list[RowWrite],
        *,
        event_id: str | None,
        exchange_ms: int,
        received_ms: int,
        day: str,
    ) -> Applied:
        """Apply guarded row writes (movers, halts) for one CloudEvent.

        Board keys travel once per call as a table the rows index into (1-based, for Lua),
        which keeps the payload - and its unpacking in Redis - small.
        """
        boards: dict[tuple[str, str], int] = {}
        groups: dict[tuple[str, str], list[object]] = {}
        day_boards: dict[str, dict[str, int]] = {}  # day -> board name -> index

        for w in writes:
            rows = groups.get((w.day, w.clock))
            if rows is None:
                rows = groups[(w.day, w.clock)] = []
            index = day_boards.get(w.day)
            if index is None:
                index = day_boards[w.day] = {}
            adds: list[object] = []
            for name, score in w.scores.items():
                i = index.get(name)
                if i is None:
                    i = index[name] = boards[(w.day, name)] = len(boards) + 1
                adds += (i, score)
            removes = []
            for name in w.remove:
                i = index.get(name)
                if i is None:
                    i = index[name] = boards[(w.day, name)] = len(boards) + 1
                removes.append(i)
            rows.append([w.sym, w.t, w.tie, w.fields, adds, removes, w.static])
        touched = sorted({name for _, name in boards})
        payload = self.header(day, event_id, touched, exchange_ms, received_ms)
        payload["boards"] = [self._key("board", d, name) for d, name in boards]
        payload["groups"] = [
            [self._key("clock", d, clock), keys.row(d, ""), rows, keys.state(d, UPDATED)]
            for (d, clock), rows in groups.items()
        ]
        payload["trim"] = [
            [index, self.board_size, int(BOARDS_BY_NAME[name].ascending)]
            for (_, name), index in boards.items()
        ]
        result = int(await self._rows(args=[_encoder.encode(payload)]))
        return Applied(
            duplicate=result == 0, changed=max(result - 1, 0), boards=tuple(touched), day=day
        )
