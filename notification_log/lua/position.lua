-- The log's epoch and its newest offset. An empty log starts at Redis' clock, so the
-- first connections' positions are recent (recoverable) and every later offset is newer.
-- KEYS[1] last offset, KEYS[2] epoch.
local t = redis.call('TIME')
local last = redis.call('GET', KEYS[1])
if not last then
  last = string.format('%d-0', tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000))
  redis.call('SET', KEYS[1], last)
end
local epoch = redis.call('GET', KEYS[2])
if not epoch then
  -- Microseconds: a log lost and begun again gets an epoch of its own.
  epoch = t[1] .. '-' .. t[2]
  redis.call('SET', KEYS[2], epoch)
end
return {epoch, last}
