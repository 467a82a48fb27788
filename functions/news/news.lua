-- News articles of a group commit onto their tickers' rows, news lists and their day's news
-- board (runs after seen.lua). Layout: ARGV[3] = msgpack of news/func.py NewsCall; every key
-- is an index into KEYS. An article = {board, published ms (string), entry JSON, headline,
-- publisher, url, {{row, news list, ticker, sentiment ('' = none)}, ...}}.
-- A row shows the newest article it has been given (by publication time), so articles applied
-- in any order, alone or grouped, converge on the same rows, lists and boards.
local p = cmsgpack.unpack(ARGV[3])
local TTL, CHANNEL, MESSAGE, BOARD_SIZE, LIST_SIZE, ARTICLES = p[1], p[2], p[3], p[4], p[5], p[6]
local headlines = 0
for _, a in ipairs(ARTICLES) do
  local board, published_ms = KEYS[a[1]], a[2]
  local published = tonumber(published_ms)
  for _, m in ipairs(a[7]) do
    local row, list, ticker, sentiment = KEYS[m[1]], KEYS[m[2]], m[3], m[4]
    redis.call('HINCRBY', row, 'news_count', 1)
    local shown = tonumber(redis.call('HGET', row, 'news_ms'))
    if shown == nil or published >= shown then
      headlines = headlines + 1
      redis.call('HSET', row, 'sym', ticker, 'news_ms', published_ms, 'headline', a[4],
        'news_publisher', a[5], 'news_url', a[6])
      if sentiment == '' then
        redis.call('HDEL', row, 'news_sentiment')
      else
        redis.call('HSET', row, 'news_sentiment', sentiment)
      end
      redis.call('ZADD', board, published_ms, ticker)
    end
    redis.call('EXPIRE', row, TTL)
    redis.call('ZADD', list, published_ms, a[3])
    redis.call('ZREMRANGEBYRANK', list, 0, -LIST_SIZE - 1)
    redis.call('EXPIRE', list, TTL)
  end
  redis.call('ZREMRANGEBYRANK', board, 0, -BOARD_SIZE - 1)
  redis.call('EXPIRE', board, TTL)
end
redis.call('PUBLISH', CHANNEL, MESSAGE)
return {1, headlines}
