"""Momentum's Redis side: merge reduced trades into per-second buckets and derive the metrics.

State (all day-scoped, see ``stampede.keys.state``):
- ``win:{SYM}:{minute}``  hash per symbol and Unix minute, expiring after the window TTL:
  ``n:{s}`` trades, ``d:{s}`` dollar volume in cents (HINCRBY: commutative), ``p:{s}`` last
  price of second ``s`` with its (``pt:{s}``, ``pq:{s}``) order, ``c`` the minute's close,
  ``N``/``D`` the minute's running trade count and cents (so a 60-second sum reads a total
  and at most half a minute of seconds, not 60 fields).
- ``mom:{SYM}``  hash: ``t`` the symbol's clock (newest trade time seen), ``fs`` its first
  traded second of the day, last price ``lp``
  (with ``lt``/``lq``), ``hi``/``hit``, ``lo``/``lot``, ``phi``/``phit``, and ``w`` (msgpack)
  the window metrics' inputs as of the symbol's second: tape-window trades, 60-second cents,
  the prices 1 and 5 minutes before with the earliest second that could change each.
- ``clock:momentum``  hash: ``asof`` = newest trade time of any symbol (the feed's clock).
- ``momentum_live``  sorted set symbol -> its clock, to drop stale symbols from the boards.

Every merge is a max or a sum, so replicas applying batches in any order reach the same state;
the metrics always equal a recompute from the merged buckets as of the symbol's clock: when its
second advanced they are recomputed, otherwise ``w`` is brought up to date with this batch's
buckets (exact integer sums; a price is looked up again only if a bucket it depends on moved),
so the last apply of a symbol always reflects everything merged so far.
"""

from __future__ import annotations

import msgspec
from redis.asyncio import Redis

from stampede import keys
from stampede.functions.momentum.scoring import SymbolTrades
from stampede.functions.store import UPDATED

WINDOW_BOARDS = ("momentum_1m", "momentum_5m", "tape_speed", "dollar_volume_1m")
HOD_BOARD = "new_highs"
LOOKBACK_MINUTES = 5  # how far before "1/5 minutes ago" a last price may be looked up

_LUA = r"""
local p = cmsgpack.unpack(ARGV[1])
if p.seen ~= '' and not redis.call('SET', p.seen, '1', 'NX', 'EX', p.seen_ttl) then
  return 0
end
local W, STALE, TTL, WTTL, CAP, LOOK = p.tape_s, p.stale_ms, p.ttl, p.win_ttl, p.cap, p.lookback

local function num(x) return string.format('%.10g', x) end
local function int(v) return tonumber(v) or 0 end
-- Sums are written as exact integers (Redis would print a Lua number with %.14g).
local function whole(x) return string.format('%.0f', x) end

local function newer(t, q, ct, cq)
  return ct == nil or t > ct or (t == ct and q >= (cq or 0))
end

local function bucket_key(g, sym, minute) return g.win .. sym .. ':' .. minute end

-- Field names of the 60 seconds of a minute, built once per call: HMGET takes slices of them.
local NAMES = {['n:'] = {}, ['d:'] = {}, ['p:'] = {}}
for prefix, list in pairs(NAMES) do
  for s = 0, 59 do list[s + 1] = prefix .. s end
end

-- Sum of field ``n:`` over seconds [from_s, to_s] (a few seconds: the tape-speed window).
local function sum(g, sym, field, from_s, to_s)
  local total, names = 0, NAMES[field]
  for m = math.floor(from_s / 60), math.floor(to_s / 60) do
    local a, b = math.max(from_s, m * 60) - m * 60, math.min(to_s, m * 60 + 59) - m * 60
    for _, v in ipairs(redis.call('HMGET', bucket_key(g, sym, m), unpack(names, a + 1, b + 1))) do
      if v then total = total + tonumber(v) end
    end
  end
  return total
end

-- Dollar volume in cents over the 60 seconds ending at ``sec`` (the symbol's clock, so the
-- current minute holds nothing later): the current minute's running total ``D`` plus the
-- tail of the previous minute, read directly or as its ``D`` minus its head, whichever is
-- fewer fields. ``first`` = the first traded second today: no earlier minute holds anything.
local function cents_1m(g, sym, sec, first)
  local m = math.floor(sec / 60)
  local ss = sec - m * 60
  local total = tonumber(redis.call('HGET', bucket_key(g, sym, m), 'D')) or 0
  if ss == 59 or (m - 1) * 60 + 59 < first then return total end
  local k, names = bucket_key(g, sym, m - 1), NAMES['d:']
  if 59 - ss <= ss + 2 then
    for _, v in ipairs(redis.call('HMGET', k, unpack(names, ss + 2, 60))) do
      if v then total = total + tonumber(v) end
    end
  else
    local vals = redis.call('HMGET', k, 'D', unpack(names, 1, ss + 1))
    total = total + (tonumber(vals[1]) or 0)
    for i = 2, #vals do if vals[i] then total = total - tonumber(vals[i]) end end
  end
  return total
end

-- The last price at or before second ``sec`` (0 when the symbol had not traded by then), and
-- the earliest second whose bucket could change that answer: the second it was found in, the
-- start of the minute whose close it is, or the start of the look-back when nothing was found.
-- ``first`` = the symbol's first traded second today, so a new symbol costs no look-ups. The
-- second itself is tried first (an active symbol traded in it), then the rest of its minute.
local function price_at_or_before(g, sym, sec, first)
  local m = math.floor(sec / 60)
  local ss = sec - m * 60
  if sec < first then return 0, (m - LOOK) * 60 end
  local key = bucket_key(g, sym, m)
  local v = redis.call('HGET', key, NAMES['p:'][ss + 1])
  if v then return tonumber(v), sec end
  if ss > 0 then
    local vals = redis.call('HMGET', key, unpack(NAMES['p:'], 1, ss))
    for i = #vals, 1, -1 do if vals[i] then return tonumber(vals[i]), m * 60 + i - 1 end end
  end
  for k = 1, math.min(LOOK, m - math.floor(first / 60)) do
    local c = redis.call('HGET', bucket_key(g, sym, m - k), 'c')
    if c then return tonumber(c), (m - k) * 60 end
  end
  return 0, (m - LOOK) * 60
end

local changed = 0
local function append(list, ...)
  for _, v in ipairs({...}) do list[#list + 1] = v end
end
local function push(lists, key, ...)  -- append to the list of ``key``, creating it
  local list = lists[key]
  if list == nil then list = {}; lists[key] = list end
  append(list, ...)
end
local function chunked(cmd, key, args)
  for i = 1, #args, 4000 do
    redis.call(cmd, key, unpack(args, i, math.min(i + 3999, #args)))
  end
end
for _, g in ipairs(p.groups) do
  local G = math.max(tonumber(redis.call('HGET', g.clock, 'asof')) or 0, g.newest)
  redis.call('HSET', g.clock, 'asof', G)
  redis.call('EXPIRE', g.clock, TTL)
  local names = {}
  for i, s in ipairs(g.syms) do names[i] = s[1] end
  local known = redis.call('HMGET', g.updated, unpack(names))
  local adds, rems, newest_ms = {}, {}, {}  -- board -> {score, sym, ...} / {sym, ...}; {sym, ms, ...}
  for idx, s in ipairs(g.syms) do
    local sym, newest, secs, last, hi, lo, phi, first_sec = s[1], s[2], s[3], s[4], s[5], s[6], s[7], s[8]
    for i = 1, #secs, 6 do
      local sec, n, cents, pt, pq, pp = secs[i], secs[i + 1], secs[i + 2], secs[i + 3], secs[i + 4], secs[i + 5]
      local m = math.floor(sec / 60)
      local ss = sec - m * 60
      local k = bucket_key(g, sym, m)
      local nf, df = 'n:' .. ss, 'd:' .. ss
      local c = redis.call('HMGET', k, nf, df, 'N', 'D', 'pt:' .. ss, 'pq:' .. ss, 'ct', 'cq')
      local set = {nf, whole(int(c[1]) + n), 'N', whole(int(c[3]) + n)}
      if cents ~= 0 then append(set, df, whole(int(c[2]) + cents), 'D', whole(int(c[4]) + cents)) end
      if pt >= 0 then
        if newer(pt, pq, tonumber(c[5]), tonumber(c[6])) then
          append(set, 'p:' .. ss, pp, 'pt:' .. ss, pt, 'pq:' .. ss, pq)
        end
        if newer(pt, pq, tonumber(c[7]), tonumber(c[8])) then append(set, 'c', pp, 'ct', pt, 'cq', pq) end
      end
      redis.call('HSET', k, unpack(set))
      -- A bucket gets its lifetime when created (no N yet); it is only written during its
      -- minute (and by late redeliveries, which recreate it if it has expired).
      if c[3] == false then redis.call('EXPIRE', k, WTTL) end
    end

    local mk = g.mom .. sym
    local cur = redis.call('HMGET', mk, 't', 'lt', 'lq', 'lp', 'hi', 'hit', 'lo', 'lot', 'phi', 'phit', 'fs', 'w')
    local first = cur[1] == false
    local asof = math.max(tonumber(cur[1]) or 0, newest)
    local lp = tonumber(cur[4])
    local h, ht, l, lt = tonumber(cur[5]), tonumber(cur[6]), tonumber(cur[7]), tonumber(cur[8])
    local ph, pht = tonumber(cur[9]), tonumber(cur[10])
    local fs = math.min(tonumber(cur[11]) or first_sec, first_sec)
    local secT = math.floor(asof / 1000)
    -- Window sums (trades over the tape window, cents over 60 s) and the prices 1 and 5
    -- minutes before (with the second from which a bucket could change each), as of second
    -- second ``w[1]``: while the symbol's second has not advanced they are brought up to date from this
    -- batch's buckets alone, and a price is looked up again only if a bucket it depends on moved.
    local wn, wd, r1, f1, r5, f5
    local w = cur[12] and cmsgpack.unpack(cur[12])
    if w and w[1] == secT then
      wn, wd, r1, f1, r5, f5 = w[2], w[3], w[4], w[5], w[6], w[7]
      for i = 1, #secs, 6 do
        local sec = secs[i]
        if sec > secT - W then wn = wn + secs[i + 1] end
        if sec > secT - 60 then wd = wd + secs[i + 2] end
        if sec >= f1 and sec <= secT - 60 then r1 = nil end
        if sec >= f5 and sec <= secT - 300 then r5 = nil end
      end
    else
      wn = sum(g, sym, 'n:', math.max(secT - W + 1, fs), secT)
      wd = cents_1m(g, sym, secT, fs)
    end
    if r1 == nil then r1, f1 = price_at_or_before(g, sym, secT - 60, fs) end
    if r5 == nil then r5, f5 = price_at_or_before(g, sym, secT - 300, fs) end
    local state = {'t', asof, 'fs', fs, 'w', cmsgpack.pack({secT, wn, wd, r1, f1, r5, f5})}
    if #last > 0 and newer(last[1], last[2], tonumber(cur[2]), tonumber(cur[3])) then
      lp = last[3]
      append(state, 'lt', last[1], 'lq', last[2], 'lp', lp)
    end
    if #hi > 0 and (h == nil or hi[1] > h or (hi[1] == h and hi[2] < ht)) then h, ht = hi[1], hi[2] end
    if #lo > 0 and (l == nil or lo[1] < l or (lo[1] == l and lo[2] < lt)) then l, lt = lo[1], lo[2] end
    if #phi > 0 and (ph == nil or phi[1] > ph or (phi[1] == ph and phi[2] < pht)) then ph, pht = phi[1], phi[2] end
    if h then append(state, 'hi', h, 'hit', ht, 'lo', l, 'lot', lt) end
    if ph then append(state, 'phi', ph, 'phit', pht) end
    redis.call('HSET', mk, unpack(state))
    if first then redis.call('EXPIRE', mk, TTL) end

    local tps = wn / W
    local dollars = wd / 100
    local ch1, ch5
    if lp then
      if r1 > 0 then ch1 = (lp - r1) / r1 * 100 end
      if r5 > 0 then ch5 = (lp - r5) / r5 * 100 end
    end

    local row = g.row .. sym
    local fields, gone = {'sym', sym, 'trades_per_sec', num(tps), 'dollar_volume_1m', num(dollars)}, {}
    if ch1 then append(fields, 'change_1m_pct', num(ch1)) else gone[#gone + 1] = 'change_1m_pct' end
    if ch5 then append(fields, 'change_5m_pct', num(ch5)) else gone[#gone + 1] = 'change_5m_pct' end
    if h then append(fields, 'high', num(h), 'low', num(l), 'hod_time', string.format('%d', ht)) end
    if ph then append(fields, 'premarket_high', num(ph)) end
    local u = tonumber(known[idx])
    if u == nil or asof > u then
      append(fields, 'updated_ms', string.format('%d', asof))
      append(newest_ms, sym, asof)
    end
    redis.call('HSET', row, unpack(fields))
    if #gone > 0 then redis.call('HDEL', row, unpack(gone)) end
    if first then redis.call('EXPIRE', row, TTL) end

    if asof >= G - STALE then
      push(adds, g.b_tape, tps, sym)
      push(adds, g.b_dv, dollars, sym)
      if ch1 then push(adds, g.b_m1, ch1, sym) else push(rems, g.b_m1, sym) end
      if ch5 then push(adds, g.b_m5, ch5, sym) else push(rems, g.b_m5, sym) end
      push(adds, g.live, asof, sym)
    else
      push(rems, g.b_tape, sym)
      push(rems, g.b_dv, sym)
      push(rems, g.b_m1, sym)
      push(rems, g.b_m5, sym)
    end
    if h then push(adds, g.b_hod, ht, sym) end
    changed = changed + 1
  end
  for key, list in pairs(rems) do chunked('ZREM', key, list) end
  for key, list in pairs(adds) do chunked('ZADD', key, list) end
  if #newest_ms > 0 then chunked('HSET', g.updated, newest_ms) end

  local stale = redis.call('ZRANGEBYSCORE', g.live, '-inf', '(' .. (G - STALE))
  if #stale > 0 then
    for _, b in ipairs({g.b_tape, g.b_dv, g.b_m1, g.b_m5, g.live}) do chunked('ZREM', b, stale) end
  end
  redis.call('EXPIRE', g.live, TTL)
  redis.call('EXPIRE', g.updated, TTL)
  for _, b in ipairs({g.b_tape, g.b_dv, g.b_m1, g.b_m5, g.b_hod}) do
    redis.call('ZREMRANGEBYRANK', b, 0, -CAP - 1)
    redis.call('EXPIRE', b, TTL)
  end
end
if changed > 0 then redis.call('PUBLISH', p.channel, p.message) end
return changed + 1
"""

_encoder = msgspec.msgpack.Encoder()


def _extreme(value: tuple[float, int] | None) -> list[float | int]:
    return list(value) if value is not None else []


def group_payload(day: str, symbols: list[SymbolTrades]) -> dict[str, object]:
    """The script's input for one day's symbols (keys spelled by ``stampede.keys``)."""
    syms = []
    for entry in symbols:
        secs: list[object] = []
        for second, b in entry.seconds.items():
            t, q, price = b.last if b.last is not None else (-1, 0, 0.0)
            secs += [second, b.trades, b.cents, t, q, price]
        syms.append(
            [
                entry.sym,
                entry.newest_ms,
                secs,
                list(entry.last or ()),
                _extreme(entry.high),
                _extreme(entry.low),
                _extreme(entry.premarket_high),
                min(entry.seconds),
            ]
        )
    return {
        "newest": max(e.newest_ms for e in symbols),
        "clock": keys.state(day, "clock:momentum"),
        "live": keys.state(day, "momentum_live"),
        "win": keys.state(day, "win:"),
        "mom": keys.state(day, "mom:"),
        "row": keys.row(day, ""),
        "updated": keys.state(day, UPDATED),
        "b_m1": keys.board(day, "momentum_1m"),
        "b_m5": keys.board(day, "momentum_5m"),
        "b_tape": keys.board(day, "tape_speed"),
        "b_dv": keys.board(day, "dollar_volume_1m"),
        "b_hod": keys.board(day, HOD_BOARD),
        "syms": syms,
    }


class Window:
    """Runs the momentum script: one EVALSHA per CloudEvent."""

    def __init__(self, redis: Redis) -> None:
        self._script = redis.register_script(_LUA)

    async def apply(
        self,
        header: dict[str, object],
        groups: list[dict[str, object]],
        *,
        tape_seconds: int,
        stale_ms: int,
        window_ttl: int,
        board_size: int,
    ) -> int:
        """Returns 0 for a duplicate CloudEvent, else 1 + the number of symbols merged."""
        payload = {
            **header,
            "groups": groups,
            "tape_s": tape_seconds,
            "stale_ms": stale_ms,
            "win_ttl": window_ttl,
            "cap": board_size,
            "lookback": LOOKBACK_MINUTES,
        }
        return int(await self._script(args=[_encoder.encode(payload)]))
