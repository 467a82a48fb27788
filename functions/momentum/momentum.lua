-- Momentum: every trade of a group commit, reduced per symbol and second (window.py), merged
-- into the symbol's state, and the window metrics derived as of the symbol's newest trade.
-- Layout of ARGV[3], of the state and of its records: window.py (MomentumCall, HEADER, COUNT,
-- PRICE, MINUTE); keys are KEYS indices.
--
-- State = a header key (SET each visit, ~170 bytes) and three record lists, each in its own key:
--   count  (second, trades, cents) for the seconds of the last 60 s: the tape and dollar windows
--   price  (second, last price, its ms within the second, its sequence) for every second with
--          a price that a 1- or 5-minute look-up can still reach
--   minute (minute, trades) for the whole day: the tape's history
-- A list is written by what changed, not whole: records from the first changed one on go out in
-- one SETRANGE (mostly the newest record or two), and pruning from the front only moves the
-- list's base past dead records until they outnumber the live ones, when the list is rewritten
-- whole. So Redis copies, and replicates, the header and a record or two per symbol visit
-- instead of the whole window.
-- Every merge is a sum or a max by (time, sequence), and what is pruned can no longer change a
-- metric (the symbol's clock only moves forward), so replicas applying in any order converge.
local p = cmsgpack.unpack(ARGV[3])
local TTL, CHANNEL, MESSAGE, W, STALE, CAP, LOOK, GROUPS = p[1], p[2], p[3], p[4], p[5], p[6], p[7], p[8]
local floor, fmt, pack, sunpack, sub = math.floor, string.format, struct.pack, struct.unpack, string.sub
local concat, tinsert = table.concat, table.insert
local HEADER = '<' .. string.rep('d', 18) .. 'I4I4I4I4I4I4'
local HSIZE = 18 * 8 + 24
local COUNT, CSIZE = '<I4I4d', 16
local PRICE, PSIZE = '<I4dI2d', 22
local MINUTE, MSIZE = '<I4I4', 8
local COMPACT = 64  -- dead records a list keeps at least before it is rewritten whole
-- asof, lt, lq, lp, hi, hit, lo, lot, phi, phit, secW, wn, wd, r1, f1, r5, f5, shown,
-- then per list (count, price, minute) its records in the key, then the dead ones before its base
local EMPTY = {0, -1, 0, 0, 0, -1, 0, -1, 0, -1, -1, 0, 0, 0, -1, 0, -1, 0, 0, 0, 0, 0, 0, 0}

local function num(x) return fmt('%.10g', x) end
local function newer(t, q, ct, cq) return t > ct or (t == ct and q >= cq) end

-- A record list: records 1..n of ``raw`` (the key as read), the first ``base`` of them dead.
-- Records after ``dirty`` live in ``tail`` as packed strings: those are what this visit changes.
local function list_open(key, size, n, base)
  local raw = ''
  if n > 0 then raw = redis.call('GET', key) or '' end
  if #raw ~= n * size then raw, n, base = '', 0, 0 end  -- expired with the day: start afresh
  return {key = key, size = size, raw = raw, n = n, base = base, dirty = n, tail = {}, fresh = raw == ''}
end

-- The fields of record i (``rfmt`` may read only its leading ones).
local function read(L, i, rfmt)
  if i > L.dirty then return sunpack(rfmt, L.tail[i - L.dirty]) end
  return sunpack(rfmt, L.raw, (i - 1) * L.size + 1)
end

-- Records i.. move into ``tail`` so they can change.
local function detach(L, i)
  if i > L.dirty then return end
  local moved = {}
  for k = i, L.dirty do moved[#moved + 1] = sub(L.raw, (k - 1) * L.size + 1, k * L.size) end
  for _, r in ipairs(L.tail) do moved[#moved + 1] = r end
  L.tail, L.dirty = moved, i - 1
end

local function put(L, i, rec) detach(L, i); L.tail[i - L.dirty] = rec end
local function insert(L, i, rec) detach(L, i); tinsert(L.tail, i - L.dirty, rec); L.n = L.n + 1 end

-- The live record with the greatest first field (a second or minute) <= b, and that field;
-- ``base`` (no live record) when none. The newest first (most batches extend the tail), else a
-- binary search.
local function at_or_before(L, b)
  local lo, hi = L.base + 1, L.n
  if hi < lo then return L.base, nil end
  local s = read(L, hi, '<I4')
  if s <= b then return hi, s end
  local found, fs = L.base, nil
  hi = hi - 1
  while lo <= hi do
    local mid = floor((lo + hi) / 2)
    local ms = read(L, mid, '<I4')
    if ms <= b then found, fs, lo = mid, ms, mid + 1 else hi = mid - 1 end
  end
  return found, fs
end

-- Live records whose first field is below ``from`` become dead.
local function prune(L, from)
  while L.base < L.n and read(L, L.base + 1, '<I4') < from do L.base = L.base + 1 end
end

-- Add (a, b) to the record of ``key`` (two I4/d fields after it), creating it in order.
local function add_to(L, rfmt, key, a, b)
  local j, sj = at_or_before(L, key)
  if j > L.base and sj == key then
    local _, x, y = read(L, j, rfmt)
    put(L, j, b and pack(rfmt, key, x + a, y + b) or pack(rfmt, key, x + a))
  else
    insert(L, j + 1, b and pack(rfmt, key, a, b) or pack(rfmt, key, a))
  end
end

-- Write what changed: the changed records in place (SETRANGE), or the live records whole when
-- the key is new or its dead records outnumber the live ones.
local function list_write(L)
  local live = L.n - L.base
  if live == 0 then
    if not L.fresh then redis.call('DEL', L.key) end
    L.n, L.base = 0, 0
  elseif L.fresh or (L.base >= live and L.base >= COMPACT) then
    local parts = {}
    if L.base < L.dirty then parts[1] = sub(L.raw, L.base * L.size + 1, L.dirty * L.size) end
    for k = math.max(1, L.base - L.dirty + 1), #L.tail do parts[#parts + 1] = L.tail[k] end
    redis.call('SET', L.key, concat(parts), 'EX', TTL)
    L.n, L.base = live, 0
  elseif #L.tail > 0 then
    redis.call('SETRANGE', L.key, L.dirty * L.size, concat(L.tail))
  end
end

-- The last price at or before second X (0 when none within LOOK minutes before X's minute),
-- and the earliest second whose price could change that answer.
local function price_at(P, X)
  local from = (floor(X / 60) - LOOK) * 60
  local j, sj = at_or_before(P, X)
  if j > P.base and sj >= from then
    local _, price = read(P, j, '<I4d')
    return price, sj
  end
  return 0, from
end

-- Boards 1..5 = momentum_1m, momentum_5m, tape_speed, dollar_volume_1m, new_highs. A symbol's
-- state keeps which boards it may be on (flags: 4, 8, 16, 32, 64; 1 and 2 = its row shows the
-- 1/5-minute change), so a symbol far from the top costs no board command at all: it is offered
-- to a board only when its score beats the board's K-th member at the start of the call (or the
-- board is not full; the trim at the end keeps K), and taken off only if it may be there.
local BIT = {4, 8, 16, 32, 64}
local edge, adds, rems  -- per group: K-th score per board (nil: not full); ZADD / ZREM lists
local function offer(b, score, sym, flags)
  local bit = BIT[b]
  local on = flags % (2 * bit) >= bit
  if score ~= nil and (edge[b] == nil or score > edge[b]) then
    local list = adds[b]
    list[#list + 1], list[#list + 2] = score, sym
    if not on then flags = flags + bit end
  elseif on then
    local list = rems[b]
    list[#list + 1] = sym
    flags = flags - bit
  end
  return flags
end

local changed = 0
for _, g in ipairs(GROUPS) do
  -- g = {clock, live, updated mirror, momentum_1m, momentum_5m, tape_speed, dollar_volume_1m,
  --      new_highs (KEYS indices), newest trade ms of the group, symbols}
  local clock, live, mirror = KEYS[g[1]], KEYS[g[2]], KEYS[g[3]]
  local boards = {KEYS[g[4]], KEYS[g[5]], KEYS[g[6]], KEYS[g[7]], KEYS[g[8]]}
  local syms = g[10]
  -- The feed's clock (newest trade of any symbol of this shard) decides which symbols are stale.
  local G = math.max(tonumber(redis.call('GET', clock)) or 0, g[9])
  redis.call('SET', clock, fmt('%d', G), 'EX', TTL)
  edge, adds, rems = {}, {{}, {}, {}, {}, {}}, {{}, {}, {}, {}, {}}
  for b = 1, 5 do
    local e = redis.call('ZREVRANGE', boards[b], CAP - 1, CAP - 1, 'WITHSCORES')
    if e[2] then edge[b] = tonumber(e[2]) end
  end
  local names = {}
  for i, s in ipairs(syms) do names[i] = s[3] end
  local known = hmget(mirror, names)
  local ranked, newest_ms = {}, {}  -- {clock, symbol, ...} of symbols on window boards
  for idx, s in ipairs(syms) do
    -- s = {state key, row key, symbol, newest ms, last t (-1: none), q, p, high p, t (-1),
    --      low p, t (-1), pre-market high p, t (-1), then per second ascending: second,
    --      trades, cents, price ms (-1: no price), sequence, price}
    local skey, rkey, sym = KEYS[s[1]], KEYS[s[2]], s[3]
    local raw = redis.call('GET', skey)
    if raw and #raw ~= HSIZE then raw = nil end  -- a layout before this one: start afresh
    local h = raw and {sunpack(HEADER, raw)} or {unpack(EMPTY)}
    -- the three lists' keys follow the header key in KEYS
    local C = list_open(KEYS[s[1] + 1], CSIZE, h[19], h[22])
    local P = list_open(KEYS[s[1] + 2], PSIZE, h[20], h[23])
    local M = list_open(KEYS[s[1] + 3], MSIZE, h[21], h[24])
    local asof = math.max(h[1], s[4])
    local secT = floor(asof / 1000)
    local advanced = secT ~= h[11]  -- window metrics are recomputed once per feed second

    -- Tape (trades over W s) and dollar volume (cents over 60 s): the live count records hold
    -- exactly the seconds (secT - 60, secT], and wd is their cents' sum.
    local wd, wn = h[13], h[12]
    while C.base < C.n do
      local sec, _, c = read(C, C.base + 1, COUNT)
      if sec > secT - 60 then break end
      wd, C.base = wd - c, C.base + 1
    end
    for i = 14, #s, 6 do
      local b, n, cents = s[i], s[i + 1], s[i + 2]
      add_to(M, MINUTE, floor(b / 60), n)
      if b > secT - 60 then
        wd = wd + cents
        if not advanced and b > secT - W then wn = wn + n end
        add_to(C, COUNT, b, n, cents)
      end
    end
    if advanced then
      wn = 0
      for j = C.n, C.base + 1, -1 do
        local sec, n = read(C, j, '<I4I4')
        if sec <= secT - W then break end
        wn = wn + n
      end
    end

    -- Prices 1 and 5 minutes before the symbol's second: f1/f5 = the earliest second whose
    -- price could change the answer (a late trade there invalidates it).
    local X1, X5 = secT - 60, secT - 300
    local r1, f1, r5, f5 = h[14], h[15], h[16], h[17]
    if advanced then f1, f5 = -1, -1 end
    local reach = (floor(X5 / 60) - LOOK) * 60  -- no look-up reaches below this any more
    prune(P, reach)
    for i = 14, #s, 6 do
      local b, pt, pq, pp = s[i], s[i + 3], s[i + 4], s[i + 5]
      if pt >= 0 and b >= reach then
        if f1 >= 0 and b >= f1 and b <= X1 then f1 = -1 end
        if f5 >= 0 and b >= f5 and b <= X5 then f5 = -1 end
        local j, sj = at_or_before(P, b)
        local rec = pack(PRICE, b, pp, pt - b * 1000, pq)
        if j > P.base and sj == b then
          local _, _, off, q0 = read(P, j, PRICE)
          if newer(pt, pq, b * 1000 + off, q0) then put(P, j, rec) end
        else
          insert(P, j + 1, rec)
        end
      end
    end
    if f1 < 0 then r1, f1 = price_at(P, X1) end
    if f5 < 0 then r5, f5 = price_at(P, X5) end

    -- Last price, regular-session high/low and pre-market high (with the time first reached).
    local lt, lq, lp = h[2], h[3], h[4]
    if s[5] >= 0 and newer(s[5], s[6], lt, lq) then lt, lq, lp = s[5], s[6], s[7] end
    local hv, ht, lv, lot, ph, pht = h[5], h[6], h[7], h[8], h[9], h[10]
    if s[9] >= 0 and (ht < 0 or s[8] > hv or (s[8] == hv and s[9] < ht)) then hv, ht = s[8], s[9] end
    if s[11] >= 0 and (lot < 0 or s[10] < lv or (s[10] == lv and s[11] < lot)) then lv, lot = s[10], s[11] end
    if s[13] >= 0 and (pht < 0 or s[12] > ph or (s[12] == ph and s[13] < pht)) then ph, pht = s[12], s[13] end

    local tps, dollars, ch1, ch5 = wn / W, wd / 100, nil, nil
    if lt >= 0 then
      if r1 > 0 then ch1 = (lp - r1) / r1 * 100 end
      if r5 > 0 then ch5 = (lp - r5) / r5 * 100 end
    end
    local flags = h[18]
    local fields = {'trades_per_sec', num(tps), 'dollar_volume_1m', num(dollars)}
    local n = 4
    if not raw then fields[5], fields[6], n = 'sym', sym, 6 end
    if ch1 then fields[n + 1], fields[n + 2], n = 'change_1m_pct', num(ch1), n + 2 end
    if ch5 then fields[n + 1], fields[n + 2], n = 'change_5m_pct', num(ch5), n + 2 end
    -- the extremes change rarely: written when they move (the state holds what the row shows)
    if ht >= 0 and (ht ~= h[6] or hv ~= h[5] or lv ~= h[7]) then
      fields[n + 1], fields[n + 2], fields[n + 3], fields[n + 4] = 'high', num(hv), 'low', num(lv)
      fields[n + 5], fields[n + 6], n = 'hod_time', fmt('%d', ht), n + 6
    end
    if pht >= 0 and (pht ~= h[10] or ph ~= h[9]) then
      fields[n + 1], fields[n + 2], n = 'premarket_high', num(ph), n + 2
    end
    local u = tonumber(known[idx])
    if u == nil or asof > u then
      fields[n + 1], fields[n + 2] = 'updated_ms', fmt('%d', asof)
      newest_ms[#newest_ms + 1], newest_ms[#newest_ms + 2] = sym, asof
    end
    redis.call('HSET', rkey, unpack(fields))
    -- flags 1/2: the row shows the 1/5-minute change, so only a shown one is deleted
    if not ch1 and flags % 2 == 1 then redis.call('HDEL', rkey, 'change_1m_pct') end
    if not ch5 and flags % 4 >= 2 then redis.call('HDEL', rkey, 'change_5m_pct') end
    if not raw then redis.call('EXPIRE', rkey, TTL) end
    flags = flags - flags % 4 + (ch1 and 1 or 0) + (ch5 and 2 or 0)

    if asof >= G - STALE then
      flags = offer(1, ch1, sym, flags)
      flags = offer(2, ch5, sym, flags)
      flags = offer(3, tps, sym, flags)
      flags = offer(4, dollars, sym, flags)
    else
      for b = 1, 4 do flags = offer(b, nil, sym, flags) end
    end
    if ht >= 0 then flags = offer(5, ht, sym, flags) end
    if flags % 64 >= 4 then ranked[#ranked + 1], ranked[#ranked + 2] = asof, sym end

    list_write(C)
    list_write(P)
    list_write(M)
    local state = {asof, lt, lq, lp, hv, ht, lv, lot, ph, pht, secT, wn, wd, r1, f1, r5, f5,
                   flags, C.n, P.n, M.n, C.base, P.base, M.base}
    redis.call('SET', skey, pack(HEADER, unpack(state)), 'EX', TTL)
    changed = changed + 1
  end
  for b = 1, 5 do
    if #rems[b] > 0 then chunked('ZREM', boards[b], rems[b]) end
    if #adds[b] > 0 then chunked('ZADD', boards[b], adds[b]) end
  end
  if #newest_ms > 0 then chunked('HSET', mirror, newest_ms) end
  -- ``live``: the clock of every symbol that may be on a window board; those with no trade
  -- for STALE ms of feed time leave the window boards.
  if #ranked > 0 then chunked('ZADD', live, ranked) end
  local stale = redis.call('ZRANGEBYSCORE', live, '-inf', '(' .. (G - STALE))
  if #stale > 0 then
    for b = 1, 4 do chunked('ZREM', boards[b], stale) end
    chunked('ZREM', live, stale)
  end
  redis.call('EXPIRE', live, TTL)
  redis.call('EXPIRE', mirror, TTL)
  for b = 1, 5 do
    trim(boards[b], CAP, false)
    redis.call('EXPIRE', boards[b], TTL)
  end
end
if changed > 0 then redis.call('PUBLISH', CHANNEL, MESSAGE) end
return {1, changed}
