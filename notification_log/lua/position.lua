-- The log's epoch and its newest offset. An empty log starts at Redis' clock, so the
-- first connections' positions are recent (recoverable) and every later offset is newer.
-- KEYS[1] last offset, KEYS[2] epoch.
local last = redis.call('GET', KEYS[1])
if not last then
  local t = redis.call('TIME')
  last = string.format('%d-0', tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000))
  redis.call('SET', KEYS[1], last)
end
local epoch = redis.call('GET', KEYS[2])
if not epoch then
  epoch = last
  redis.call('SET', KEYS[2], epoch)
end
return {epoch, last}
