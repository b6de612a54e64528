-- forget-version: unregister a retired workflow version whose queue is empty.
--
-- KEYS (see includes/base.lua):
--@keys versions
--@read-first versions
-- ARGV[3] version
-- Returns 1 when forgotten, 0 when the version still has items (ready, leased or delayed) or is
--   the current or ramp version (nothing changes then).
--
-- Invariant: a version is forgotten only with nothing of it left, so the depth reader never loses
-- sight of an item; its empty doorbell goes with it.

local VERSION = ARGV[3]
local state = redis.call('HMGET', K.versions, 'current', 'ramp-version')
if state[1] == VERSION or state[2] == VERSION then return 0 end
local ready = redis.pcall('LLEN', vkey('ready', VERSION))
local leases = redis.pcall('ZCARD', vkey('leases', VERSION))
local delayed = redis.pcall('ZCARD', vkey('delayed', VERSION))
for _, n in ipairs({ ready, leases, delayed }) do
  if type(n) ~= 'number' or n > 0 then return 0 end
end
redis.call('HDEL', K.versions, 'v:' .. VERSION)
redis.call('DEL', vkey('wake', VERSION), vkey('reclaim-guard', VERSION))
return 1
