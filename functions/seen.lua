-- Idempotency of a group commit (prepended to every apply script by lua.py).
-- KEYS[1..ARGV[1]] are the seen keys of the CloudEvents merged into this call; ARGV[2] is
-- their lifetime in seconds. When any of them exists nothing is written and the script
-- answers {0, {index, ...}} (1-based) so the caller drops those and sends the rest again.
-- Otherwise every marker is set and the body below runs, atomically with them.
local SEEN = tonumber(ARGV[1])
do
  local dups = {}
  for i = 1, SEEN do
    if redis.call('EXISTS', KEYS[i]) == 1 then dups[#dups + 1] = i end
  end
  if #dups > 0 then return {0, dups} end
  for i = 1, SEEN do redis.call('SET', KEYS[i], '1', 'EX', ARGV[2]) end
end
-- Variadic commands go in chunks, far below Lua's C stack limit (unpack of ~8000 values).
local function chunked(cmd, key, args)
  for i = 1, #args, 4000 do
    redis.call(cmd, key, unpack(args, i, math.min(i + 3999, #args)))
  end
end
local function hmget(key, names)
  local out = {}
  for i = 1, #names, 4000 do
    local got = redis.call('HMGET', key, unpack(names, i, math.min(i + 3999, #names)))
    for j = 1, #got do out[i + j - 1] = got[j] end
  end
  return out
end
-- Insert {score, member, ...} into a board capped at ``cap`` members (ascending: the lowest
-- rank first). A full board only admits scores that reach its K-th member; the others would
-- be trimmed at once, so they are removed (a cheap miss for non-members) instead of inserted.
-- The caller trims the board to ``cap`` afterwards.
local function capped_zadd(key, cap, ascending, list)
  local edge = redis.call(ascending and 'ZRANGE' or 'ZREVRANGE', key, cap - 1, cap - 1, 'WITHSCORES')
  if #edge < 2 then return chunked('ZADD', key, list) end
  local threshold, keep, drop = tonumber(edge[2]), {}, {}
  for j = 1, #list, 2 do
    local score = list[j]
    if (ascending and score <= threshold) or (not ascending and score >= threshold) then
      keep[#keep + 1], keep[#keep + 2] = score, list[j + 1]
    else
      drop[#drop + 1] = list[j + 1]
    end
  end
  if #drop > 0 then chunked('ZREM', key, drop) end
  if #keep > 0 then chunked('ZADD', key, keep) end
end
local function trim(key, cap, ascending)
  if ascending then
    redis.call('ZREMRANGEBYRANK', key, cap, -1)
  else
    redis.call('ZREMRANGEBYRANK', key, 0, -cap - 1)
  end
end
