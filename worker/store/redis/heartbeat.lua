-- heartbeat: record a worker as alive until now + ttl (Redis clock).
--
-- KEYS: the workflow keys (includes/base.lua).
-- ARGV[3] worker id  ARGV[4] ttl ms  ARGV[5] WorkerLiveness JSON
-- Returns 1.
--
-- Invariant: expiry uses the Redis clock, so pods with skewed clocks agree on who is alive.
--@include base

redis.call('HSET', K_WORKERS, ARGV[3], int(NOW + tonumber(ARGV[4])) .. '|' .. ARGV[5])
return 1
