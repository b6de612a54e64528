-- heartbeat: record a worker as alive until now + ttl (Redis clock).
--
-- KEYS (see includes/base.lua):
--@keys workers worker-expiry
-- ARGV[3] worker id  ARGV[4] ttl ms  ARGV[5] WorkerLiveness JSON
-- Returns 1.
--
-- Invariant: expiry uses the Redis clock, so pods with skewed clocks agree on who is alive.
-- Pods that went away are forgotten by the lease sweep (reclaim.lua) and by list-workers, so
-- the registry does not grow with every pod ever run, and a heartbeat stays three commands.

local expires = NOW + tonumber(ARGV[4])
redis.call('HSET', K.workers, ARGV[3], int(expires) .. '|' .. ARGV[5])
redis.call('ZADD', K.worker_expiry, expires, ARGV[3])
return 1
