-- One news article onto its tickers' rows, their news lists and the news board, atomically.
-- KEYS[1] idempotency marker of the CloudEvent (the article id), KEYS[2] the news board,
-- then per ticker i: KEYS[2 + 2i - 1] its row, KEYS[2 + 2i] its news list (sorted set).
-- ARGV: 1 marker ttl, 2 key ttl, 3 published ms, 4 board size, 5 list size, 6 change channel,
-- 7 change message, 8 article entry (JSON), 9 headline, 10 publisher, 11 url,
-- then per ticker i: ARGV[11 + 2i - 1] the ticker, ARGV[11 + 2i] its sentiment ('' = none).
if not redis.call('SET', KEYS[1], '1', 'NX', 'EX', ARGV[1]) then
  return 0
end
local ttl, published = tonumber(ARGV[2]), tonumber(ARGV[3])
local board_size, list_size = tonumber(ARGV[4]), tonumber(ARGV[5])
local tickers = (#KEYS - 2) / 2
local newest = 0
for i = 1, tickers do
  local row, list = KEYS[2 + 2 * i - 1], KEYS[2 + 2 * i]
  local ticker, sentiment = ARGV[11 + 2 * i - 1], ARGV[11 + 2 * i]
  redis.call('HINCRBY', row, 'news_count', 1)
  local shown = tonumber(redis.call('HGET', row, 'news_ms'))
  if shown == nil or published >= shown then
    newest = newest + 1
    redis.call('HSET', row, 'sym', ticker, 'news_ms', ARGV[3], 'headline', ARGV[9],
      'news_publisher', ARGV[10], 'news_url', ARGV[11])
    if sentiment == '' then
      redis.call('HDEL', row, 'news_sentiment')
    else
      redis.call('HSET', row, 'news_sentiment', sentiment)
    end
    redis.call('ZADD', KEYS[2], published, ticker)
  end
  redis.call('EXPIRE', row, ttl)
  redis.call('ZADD', list, published, ARGV[8])
  redis.call('ZREMRANGEBYRANK', list, 0, -list_size - 1)
  redis.call('EXPIRE', list, ttl)
end
redis.call('ZREMRANGEBYRANK', KEYS[2], 0, -board_size - 1)
redis.call('EXPIRE', KEYS[2], ttl)
redis.call('PUBLISH', ARGV[6], ARGV[7])
return 1 + newest
