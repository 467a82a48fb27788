#!lua flags=no-writes
-- Read boards and their rows in one atomic step, so ranks and rows come from the same moment:
-- a board is always in the order of its own metric, and a symbol on several boards shows the
-- same row on each. Read-only (runs on a replica too).
--
-- KEYS[1..nb]   board sorted sets
-- KEYS[nb+i]    row hash of the i-th candidate symbol, `...:row:SYMBOL` (the caller's guess of
--               who is on the boards: every key touched is in KEYS)
-- ARGV[1]       nb
-- ARGV[1+b]     board b: rows wanted, positive for highest score first, negative for lowest
-- ARGV[nb+2]    lookahead: members returned past each board's depth (next read's candidates)
--
-- Returns {boards, missing, rows}: boards[b] = member, score, ... in rank order (depth +
-- lookahead; the scores let a caller merge the boards of several shards);
-- missing = members within depth that are not candidates (the caller reads again with them,
-- and rows are left unread); rows = {symbol, HGETALL...} for each distinct member within depth.
local nb = tonumber(ARGV[1])
local lookahead = tonumber(ARGV[nb + 2])
local row_key = {}
for i = nb + 1, #KEYS do row_key[string.match(KEYS[i], ':row:(.+)$')] = KEYS[i] end

local boards, missing, wanted, seen = {}, {}, {}, {}
for b = 1, nb do
  local depth = tonumber(ARGV[1 + b])
  local count = math.abs(depth)
  local members = redis.call(
    depth > 0 and 'ZREVRANGE' or 'ZRANGE', KEYS[b], 0, count + lookahead - 1, 'WITHSCORES')
  boards[b] = members
  for j = 1, math.min(count, #members / 2) do
    local sym = members[2 * j - 1]
    if not seen[sym] then
      seen[sym] = true
      if row_key[sym] then wanted[#wanted + 1] = sym else missing[#missing + 1] = sym end
    end
  end
end
local rows = {}
if #missing == 0 then
  for i, sym in ipairs(wanted) do
    rows[i] = {sym, redis.call('HGETALL', row_key[sym])}
  end
end
return {boards, missing, rows}
