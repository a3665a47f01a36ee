-- Decide one notification for one throttle key, atomically across pods.
-- KEYS[1]  the key's hash: until (window end, ms), ver (hold counter),
--          pending (latest held notification), pts (its creation time, ms),
--          seen (newest creation time seen, ms)
-- ARGV[1]  window length, ms
-- ARGV[2]  the encoded notification
-- ARGV[3]  its creation time, ms
-- ARGV[4]  how long a held notification is kept at most, ms
-- ARGV[5]  "now" in ms for tests; "0" means Redis' own clock (the same for every pod)
-- Returns {verdict, window_end, superseded, now}
--   verdict 1 = emit now (leading edge), 0 = held for the trailing edge,
--          -1 = older than what was already seen: dropped (superseded)
local key = KEYS[1]
local window = tonumber(ARGV[1])
local created = tonumber(ARGV[3])
local now = tonumber(ARGV[5])
if now == 0 then
  local t = redis.call('TIME')
  now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
end
local state = redis.call('HMGET', key, 'until', 'pts', 'seen')
local window_end = tonumber(state[1] or '0')
local pending_created = state[2]
local seen = tonumber(state[3] or '-1')

if created < seen then
  return {-1, window_end, 1, now}
end
redis.call('HSET', key, 'seen', created)

if not pending_created and window_end <= now then
  window_end = now + window
  redis.call('HSET', key, 'until', window_end)
  redis.call('PEXPIRE', key, window + 1000)
  return {1, window_end, 0, now}
end

redis.call('HINCRBY', key, 'ver', 1)
redis.call('HSET', key, 'pending', ARGV[2], 'pts', created)
redis.call('PEXPIRE', key, math.max(window_end - now, 0) + tonumber(ARGV[4]))
local superseded = 0
if pending_created then superseded = 1 end
return {0, window_end, superseded, now}
