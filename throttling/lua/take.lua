-- The held notification of a key, if any, with its version.
-- KEYS[1] the key's hash. Returns {pending, ver} or {false, false}.
local state = redis.call('HMGET', KEYS[1], 'pending', 'ver')
return {state[1], state[2]}
