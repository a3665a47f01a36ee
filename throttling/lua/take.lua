-- The held notification of a key, for its trailing emit.
-- KEYS[1] the key's hash; ARGV[1] "now" in ms, "0" = Redis' clock.
-- Returns {verdict, pending, ver, window_end, now}:
--   verdict 0: nothing held; 1: take `pending` (version `ver`) and emit it;
--   2: the window is still open (an early or duplicate trailing job): nothing to emit
--      now, but make sure the trailing job of `window_end` exists.
local now = tonumber(ARGV[1])
if now == 0 then
  local t = redis.call('TIME')
  now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
end
local state = redis.call('HMGET', KEYS[1], 'pending', 'ver', 'until')
if not state[1] then
  return {0, false, false, 0, now}
end
local window_end = tonumber(state[3] or '0')
if window_end > now then
  return {2, false, false, window_end, now}
end
return {1, state[1], state[2], window_end, now}
