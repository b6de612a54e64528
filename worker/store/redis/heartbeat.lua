-- heartbeat: record a worker as alive until now + ttl (Redis clock).
--
-- KEYS: the workflow keys (includes/base.lua).
-- ARGV[3] worker id  ARGV[4] ttl ms  ARGV[5] WorkerLiveness JSON
-- Returns 1.
--
-- Invariant: expiry uses the Redis clock, so pods with skewed clocks agree on who is alive.
-- Pods that went away are forgotten by the lease sweep (reclaim.lua) and by list-workers, so
-- the registry does not grow with every pod ever run, and a heartbeat stays three commands.
--@include base

local expires = NOW + tonumber(ARGV[4])
redis.call('HSET', K_WORKERS, ARGV[3], int(expires) .. '|' .. ARGV[5])
redis.call('ZADD', K_WORKER_EXPIRY, expires, ARGV[3])
return 1
