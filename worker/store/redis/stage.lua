-- stage: append one chunk of a step's follow-up items to its staging list, fenced by its lease.
--
-- KEYS (see includes/base.lua):
--@keys leases lease-items
--@read-first lease-items
-- ARGV[3] lease token  ARGV[4] '1' for the first chunk (drops what an earlier call staged under
--   this token), else '0'  ARGV[5..] item JSON of the chunk's follow-ups
-- Returns the staged list's length (follow-ups staged so far), or 'lease-lost'.
--
-- Invariant: staged items are invisible (no queue, no run field reads them) until the commit of
-- the same lease publishes them with the rest of the step, all or nothing (commit.lua). The list
-- `{p:w}:staged:<token>` is dropped by that commit, and by the release or reclaim of the lease
-- (a worker killed mid-staging leaves nothing behind once its lease is swept); it expires with
-- the lease's deadline plus the retention as a last resort. Only the holder of a live lease can
-- stage: a reclaimed token is unknown here.

local token, first = ARGV[3], ARGV[4] == '1'
if not redis.call('HGET', K.lease_items, token) then return 'lease-lost' end
local deadline = redis.call('ZSCORE', K.leases, token)
if not deadline then return 'lease-lost' end
local key = staged_key(token)
if not first then
  local problem = type_problem(key, 'staged')
  if problem then return redis.error_reply('CORRUPT ' .. problem) end
end
-- Writes.
if first then redis.call('UNLINK', key) end
for i = 5, #ARGV, CHUNK do
  redis.call('RPUSH', key, unpack(ARGV, i, math.min(i + CHUNK - 1, #ARGV)))
end
redis.call('PEXPIREAT', key, int(tonumber(deadline) + RETENTION_MS))
return redis.call('LLEN', key)
