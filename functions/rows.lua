-- Guarded row writes of movers and halts, for every CloudEvent of a group commit at once.
-- Layout: ARGV[3] = msgpack of store.RowsCall; every key is an index into KEYS.
-- A row write applies only when its (t, tie) is not older than its clock's stored pair, so
-- replicas and redeliveries applying in any order converge on the newest write.
-- A row flagged ``near`` (its write moved the last price or the LULD bands) is re-ranked on
-- the near_luld board from the row and the write: the only place where movers' last and halts'
-- bands meet, read atomically with the write (near_luld.lua holds the arithmetic). A band
-- write also records the bands in one hash per shard and day, read for the whole group at once:
-- a price write to a row without bands (never on near_luld) then costs nothing more, and one
-- with bands needs no read of its row.
local p = cmsgpack.unpack(ARGV[3])
local TTL, CHANNEL, MESSAGE, BOARDS, GROUPS, RANKS, NEAR_PCT, NEAR_MESSAGE =
  p[1], p[2], p[3], p[4], p[5], p[6], p[7], p[8]
-- Field values arrive formatted (store.py: floats as %.10g); string.format here cost a sixth
-- of the script's time.
local fmt, floor = string.format, math.floor
local function put(out, flat)  -- append name/value pairs
  local n = #out
  for j = 1, #flat, 2 do
    out[n + 1], out[n + 2] = flat[j], flat[j + 1]
    n = n + 2
  end
end
local applied, near_moved = 0, 0
local near_adds, near_rems = {}, {}  -- near_luld position -> {score, member, ...} / {member, ...}
local refused = false  -- row number -> true for rows their clock's guard refused
local number = 0
for _, g in ipairs(GROUPS) do
  -- g = {clock key, updated_ms mirror key, rows, bands key or 0 (no row flagged),
  --      {symbol, symbol:tie, ...}};
  -- row = {row key, symbol, t, tie, {field, value, ...}, {static ...},
  --        near_luld board position or 0 (not flagged), 1 when it carries both LULD bands}
  local clock, mirror, rows, wanted = KEYS[g[1]], KEYS[g[2]], g[3], g[5]
  local syms = {}
  for i, r in ipairs(rows) do syms[i] = r[2] end
  local cur = hmget(clock, wanted)
  -- Every row's updated_ms (newest exchange time from any function) is mirrored in one hash
  -- per shard and day, read for the whole group at once instead of one HGET per row.
  local known = hmget(mirror, syms)
  -- the LULD bands each symbol holds ('upper lower' as its row has them; false: none yet)
  local bands = g[4] > 0 and KEYS[g[4]]
  local held = bands and hmget(bands, syms) or {}
  local moved, newest, banded = {}, {}, {}
  for i, r in ipairs(rows) do
    local sym, t, tie = r[2], r[3], r[4]
    local ct = tonumber(cur[2 * i - 1])
    number = number + 1
    if ct == nil or t > ct or (t == ct and tie >= (tonumber(cur[2 * i]) or 0)) then
      applied = applied + 1
      local n = #moved
      moved[n + 1], moved[n + 2], moved[n + 3], moved[n + 4] = sym, t, wanted[2 * i], tie
      local out = r[5]  -- extended in place: the fields come formatted (store.py)
      if ct == nil or floor(t / 60000) ~= floor(ct / 60000) then put(out, r[6]) end
      local u = tonumber(known[i])
      if u == nil or t > u then
        out[#out + 1], out[#out + 2] = 'updated_ms', fmt('%d', t)
        newest[#newest + 1], newest[#newest + 2] = sym, t
      end
      local key = KEYS[r[1]]
      local near = r[7]
      if near > 0 and (r[8] == 1 or held[i]) then  -- without bands: not on near_luld, skip
        -- the row's price and bands once this write is in: what it writes, else what it holds
        local last, upper, lower
        local f = r[5]
        for j = 1, #f, 2 do
          local name = f[j]
          if name == 'last' then last = tonumber(f[j + 1])
          elseif name == 'luld_upper' then upper = tonumber(f[j + 1])
          elseif name == 'luld_lower' then lower = tonumber(f[j + 1]) end
        end
        if r[8] == 1 then
          local n = #banded
          banded[n + 1], banded[n + 2] = sym, fmt('%.10g %.10g', upper, lower)
        else
          local u, l = string.match(held[i], '^(%S+) (%S+)$')
          upper, lower = tonumber(u), tonumber(l)
        end
        if last == nil then last = tonumber(redis.call('HGET', key, 'last')) end
        near_moved = 1
        local d = luld_distance_pct(last, upper, lower)
        local list
        if d ~= nil and d <= NEAR_PCT then
          list = near_adds[near]
          if list == nil then list = {}; near_adds[near] = list end
          list[#list + 1], list[#list + 2] = d, sym
        else
          list = near_rems[near]
          if list == nil then list = {}; near_rems[near] = list end
          list[#list + 1] = sym
        end
        if d ~= nil then out[#out + 1], out[#out + 2] = 'luld_distance_pct', fmt('%.10g', d) end
      end
      redis.call('HSET', key, unpack(out))
      if ct == nil then redis.call('EXPIRE', key, TTL) end
    else
      if not refused then refused = {} end
      refused[number] = true
    end
  end
  if #moved > 0 then chunked('HSET', clock, moved) end
  if #newest > 0 then chunked('HSET', mirror, newest) end
  if #banded > 0 then chunked('HSET', bands, banded) end
  redis.call('EXPIRE', clock, TTL)
  redis.call('EXPIRE', mirror, TTL)
  if bands then redis.call('EXPIRE', bands, TTL) end
end
-- Keep the entries of rows the guard applied: all of them, unless some row was refused.
local function kept(list, numbers, stride)
  if not refused then return list end
  local out = {}
  for j, number in ipairs(numbers) do
    if not refused[number] then
      for k = stride - 1, 0, -1 do out[#out + 1] = list[stride * j - k] end
    end
  end
  return out
end
-- BOARDS[b] = {board key index, cap, ascending (1/0)};
-- RANKS = {{board position, {score, member, ...}, {row number, ...}, {member, ...}, {row number, ...}}}
for _, r in ipairs(RANKS) do
  local board = BOARDS[r[1]]
  local gone = kept(r[4], r[5], 1)
  if #gone > 0 then chunked('ZREM', KEYS[board[1]], gone) end
  local scored = kept(r[2], r[3], 2)
  if #scored > 0 then capped_zadd(KEYS[board[1]], board[2], board[3] == 1, scored) end
end
for b, list in pairs(near_rems) do chunked('ZREM', KEYS[BOARDS[b][1]], list) end
for b, list in pairs(near_adds) do capped_zadd(KEYS[BOARDS[b][1]], BOARDS[b][2], BOARDS[b][3] == 1, list) end
for _, board in ipairs(BOARDS) do
  trim(KEYS[board[1]], board[2], board[3] == 1)
  redis.call('EXPIRE', KEYS[board[1]], TTL)
end
-- the notice names near_luld only when a row with bands was re-ranked on it
if applied > 0 then redis.call('PUBLISH', CHANNEL, near_moved == 1 and NEAR_MESSAGE or MESSAGE) end
return {1, applied, near_moved}
