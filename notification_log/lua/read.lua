-- Everything sent to some rooms of one namespace after an offset, or why that can't be
-- had complete. Never a part: either every notification after the offset, or none.
-- KEYS[1] last offset, KEYS[2] epoch, KEYS[3] entries stream, KEYS[4] floor,
-- KEYS[5..] each room's offsets (a sorted set scored by ms).
-- ARGV[1] the epoch the offset belongs to, ARGV[2] the offset (exclusive start),
-- ARGV[3] most entries returned, ARGV[4] how long a room's newest offset is kept (ms).
-- Returns {status, last, epoch, id1, rooms1, args1, id2, ...}; status is ok, reset
-- (epoch differs: the log was lost), ahead (offset newer than the log: entries were
-- lost), expired (notifications after it aged out of the retention), trimmed (the count
-- bound removed entries after it), too_many (more than ARGV[3] to replay). A room whose
-- newest offset is not after the start had nothing since: it needs no entries, however
-- old the start; one that had is complete while nothing after the start aged out.
local function parse(id)
  local ms, seq = string.match(id, '^(%d+)-(%d+)$')
  return tonumber(ms), tonumber(seq)
end
local function before(a, b)
  local ams, aseq = parse(a)
  local bms, bseq = parse(b)
  return ams < bms or (ams == bms and aseq < bseq)
end
local last = redis.call('GET', KEYS[1]) or '0-0'
local epoch = redis.call('GET', KEYS[2])
if not epoch or epoch ~= ARGV[1] then
  return {'reset', last, epoch or ''}
end
local start = ARGV[2]
if before(last, start) then
  return {'ahead', last, epoch}
end
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local start_ms = parse(start)
local too_old = start_ms < now - tonumber(ARGV[4])
local floor = redis.call('GET', KEYS[4])
local trimmed = floor and before(start, floor)
local max = tonumber(ARGV[3])
local ids, seen = {}, {}
local function add(id)
  if not seen[id] then
    seen[id] = true
    ids[#ids + 1] = id
  end
end
for i = 5, #KEYS do
  local newest = redis.call('ZRANGE', KEYS[i], -1, -1)[1]
  -- No record of the room: nothing was sent to it for as long as records are kept.
  local nothing_since
  if newest then nothing_since = not before(start, newest) else nothing_since = not too_old end
  if not nothing_since then
    local oldest = redis.call('ZRANGE', KEYS[i], 0, 0)[1]
    if not oldest then
      return {'expired', last, epoch}  -- no record of the room for longer than it is kept
    end
    if string.sub(oldest, 1, 2) == 'f:' and before(start, string.sub(oldest, 3)) then
      return {'expired', last, epoch}  -- the room's offsets after the start aged out
    end
    if trimmed then
      return {'trimmed', last, epoch}
    end
    for _, id in ipairs(redis.call('ZRANGE', KEYS[i], start_ms, start_ms, 'BYSCORE')) do
      if before(start, id) then add(id) end
    end
    local later = redis.call('ZRANGE', KEYS[i], '(' .. start_ms, '+inf', 'BYSCORE', 'LIMIT', 0, max + 1)
    for _, id in ipairs(later) do add(id) end
    if #ids > max then
      return {'too_many', last, epoch}
    end
  end
end
-- Parsed once: a comparison that parsed both offsets took most of a 500-entry read.
local keyed = {}
for i, id in ipairs(ids) do
  local ms, seq = parse(id)
  keyed[i] = {ms, seq, id}
end
table.sort(keyed, function(a, b) return a[1] < b[1] or (a[1] == b[1] and a[2] < b[2]) end)
local out = {'ok', last, epoch}
for _, item in ipairs(keyed) do
  local id = item[3]
  local entry = redis.call('XRANGE', KEYS[3], id, id)
  if #entry == 0 then
    return {'expired', last, epoch}  -- a quiet room's newest, older than the retention
  end
  local fields = entry[1][2]
  local rooms, args = '', ''
  for j = 1, #fields, 2 do
    if fields[j] == 'r' then rooms = fields[j + 1] elseif fields[j] == 'a' then args = fields[j + 1] end
  end
  out[#out + 1] = id
  out[#out + 1] = rooms
  out[#out + 1] = args
end
return out
