-- write-rollout: set which version new runs of the workflow are pinned to (create-run.lua).
--
-- KEYS (see includes/base.lua):
--@keys versions
--@read-first versions
-- ARGV[3] current version  ARGV[4] ramp version ('' for no ramp)  ARGV[5] ramp percent (0..100)
-- ARGV[6] ramp period ms  ARGV[7] the ramp's end (ms) to take when this partition does not run
--   that ramp yet, or '' to end it a period from now (a workflow's partitions share partition 0's
--   end: rollout.ts writes partition 0 first and passes its end to the others)
-- Returns the ramp's end (ms, Redis clock) or -1 for no ramp.
--
-- Invariant: idempotent, so a controller may write its desired rollout on every reconcile: a
-- ramp's period starts on the Redis clock when its version is first written as the ramp, and
-- writing the same ramp again keeps its end. Every version named is registered (`v:<version>`),
-- so the depth reader sees it before its first run.

local CURRENT, RAMP, PERCENT, PERIOD, UNTIL = ARGV[3], ARGV[4], ARGV[5], tonumber(ARGV[6]), ARGV[7]
local old = redis.call('HMGET', K.versions, 'ramp-version', 'ramp-until', 'v:' .. CURRENT,
  RAMP ~= '' and 'v:' .. RAMP or 'current')
local until_ms = -1
if RAMP ~= '' then
  until_ms = (old[1] == RAMP and tonumber(old[2])) or (UNTIL ~= '' and tonumber(UNTIL)) or (NOW + PERIOD)
  redis.call('HSET', K.versions, 'current', CURRENT, 'ramp-version', RAMP, 'ramp-percent', PERCENT,
    'ramp-until', int(until_ms))
  if not old[4] then redis.call('HSET', K.versions, 'v:' .. RAMP, NOW_S) end
else
  redis.call('HSET', K.versions, 'current', CURRENT)
  redis.call('HDEL', K.versions, 'ramp-version', 'ramp-percent', 'ramp-until')
end
if not old[3] then redis.call('HSET', K.versions, 'v:' .. CURRENT, NOW_S) end
return until_ms
