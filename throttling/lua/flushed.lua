-- After the trailing emit of version ARGV[1]: open the next window from now.
-- KEYS[1] the key's hash; ARGV[1] emitted version; ARGV[2] window, ms;
-- ARGV[3] held-notification lifetime, ms; ARGV[4] "now" in ms, "0" = Redis' clock.
-- Returns {newer_pending, window_end, now}: newer_pending 1 when a newer notification
-- was held meanwhile (it needs the next window's trailing emit).
local key = KEYS[1]
local window = tonumber(ARGV[2])
local now = tonumber(ARGV[4])
if now == 0 then
  local t = redis.call('TIME')
  now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
end
local window_end = now + window
if redis.call('EXISTS', key) == 0 then
  return {0, window_end, now}
end
redis.call('HSET', key, 'until', window_end)
if redis.call('HGET', key, 'ver') == ARGV[1] then
  redis.call('HDEL', key, 'pending', 'pts')
  redis.call('PEXPIRE', key, window + 1000)
  return {0, window_end, now}
end
redis.call('PEXPIRE', key, window + tonumber(ARGV[3]))
return {1, window_end, now}
