-- Append one notification to the log and publish it to every pod, in one step.
-- KEYS[1] last offset, KEYS[2] epoch, KEYS[3] the namespace's entries stream,
-- KEYS[4] its floor, KEYS[5..] each target room's offsets (a sorted set).
-- ARGV[1] retention ms (0: publish only), ARGV[2] max entries per namespace,
-- ARGV[3] channel, ARGV[4] namespace, ARGV[5] rooms (space-separated),
-- ARGV[6] the event's Socket.IO arguments as JSON without the closing bracket,
-- ARGV[7] how long a room's newest offset is kept (ms),
-- ARGV[8] "" to PUBLISH on the channel ARGV[3], or what the namespace's room channels
-- begin with, to SPUBLISH the message on each target room's channel instead.
-- Returns the offset. The message is "<offset>\n<namespace>\n<rooms>\n<args>".
local function parse(offset)
  local o_ms, o_seq = string.match(offset, '^(%d+)-(%d+)$')
  return tonumber(o_ms), tonumber(o_seq)
end
local function ms_of(offset)
  return (string.match(offset, '^(%d+)-'))
end
local function before(a, b)
  local ams, aseq = parse(a)
  local bms, bseq = parse(b)
  return ams < bms or (ams == bms and aseq < bseq)
end
local t = redis.call('TIME')
local ms = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local seq = 0
local last = redis.call('GET', KEYS[1])
if last then
  local lms, lseq = string.match(last, '^(%d+)-(%d+)$')
  lms = tonumber(lms)
  if lms and ms <= lms then
    ms = lms
    seq = tonumber(lseq) + 1
  end
end
local id = string.format('%d-%d', ms, seq)
redis.call('SET', KEYS[1], id)
if redis.call('EXISTS', KEYS[2]) == 0 then
  -- Microseconds: a log lost and begun again gets an epoch of its own.
  redis.call('SET', KEYS[2], t[1] .. '-' .. t[2])
end
local retention = tonumber(ARGV[1])
if retention > 0 then
  local cutoff = string.format('%d', ms - retention)
  redis.call('XADD', KEYS[3], 'MINID', '~', cutoff, id, 'r', ARGV[5], 'a', ARGV[6])
  redis.call('PEXPIRE', KEYS[3], retention)
  local max = tonumber(ARGV[2])
  for i = 5, #KEYS do
    local room = KEYS[i]
    -- The newest offset that ages out now becomes the room's floor (score -1, member
    -- "f:<offset>"): a start before it can't be complete; one after it can, however old.
    local aged = redis.call('ZRANGE', room, '(' .. cutoff, '0', 'BYSCORE', 'REV', 'LIMIT', 0, 1)[1]
    if aged then
      local newest_aged = aged
      for _, same in ipairs(redis.call('ZRANGE', room, ms_of(aged), ms_of(aged), 'BYSCORE')) do
        if before(newest_aged, same) then newest_aged = same end
      end
      redis.call('ZREMRANGEBYSCORE', room, '-inf', '(' .. cutoff)
      redis.call('ZADD', room, -1, 'f:' .. newest_aged)
    end
    redis.call('ZADD', room, ms, id)
    if redis.call('ZCARD', room) > max + 1 then
      -- Older than the entries' floor (the entries hold at most `max` of all rooms);
      -- rank 0 (the room's floor, if any) stays.
      redis.call('ZREMRANGEBYRANK', room, 1, -(max + 1))
    end
    redis.call('PEXPIRE', room, ARGV[7])
  end
  if redis.call('XLEN', KEYS[3]) > max then
    redis.call('XTRIM', KEYS[3], 'MAXLEN', max)
    local first = redis.call('XRANGE', KEYS[3], '-', '+', 'COUNT', 1)
    redis.call('SET', KEYS[4], first[1][1], 'PX', retention)
  end
end
local message = id .. '\n' .. ARGV[4] .. '\n' .. ARGV[5] .. '\n' .. ARGV[6]
if ARGV[8] == '' then
  redis.call('PUBLISH', ARGV[3], message)
else
  for room in string.gmatch(ARGV[5], '[^ ]+') do
    redis.call('SPUBLISH', ARGV[8] .. room, message)
  end
end
return id
