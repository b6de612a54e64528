-- read-depth: one partition's backlog for the depth readers (depth.ts): its `versions` hash, its
-- dead letters, its layout record and the queue depth of each version the hash registers, as of
-- one instant and in one call, so a reader needs one round trip per node however many versions.
--
-- KEYS (see includes/base.lua):
--@keys versions dead layout
--@flags no-writes
-- ARGV[3..] none
-- Returns { the `versions` hash as a flat field/value list, LLEN dead, the layout record (nil
--           when absent), { { version, LLEN ready, ZCARD leases, ZCARD delayed } per version } }.
--
-- Invariant: O(1) per registered version (LLEN, ZCARD), never per item. Writes nothing (runs on
-- replicas too).

local hash = redis.call('HGETALL', K.versions)
local depths = {}
for i = 1, #hash, 2 do
  local field = hash[i]
  if string.sub(field, 1, 2) == 'v:' then
    local v = string.sub(field, 3)
    depths[#depths + 1] = {
      v, redis.call('LLEN', vkey('ready', v)), redis.call('ZCARD', vkey('leases', v)),
      redis.call('ZCARD', vkey('delayed', v)),
    }
  end
end
return { hash, redis.call('LLEN', K.dead), redis.call('GET', K.layout), depths }
