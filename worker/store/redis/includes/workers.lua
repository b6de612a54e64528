-- Worker liveness. Needs `base`.

-- Forgets workers whose last heartbeat expired (usually none: one O(log n) range query).
local function forget_dead_workers()
  local dead = redis.call('ZRANGEBYSCORE', K_WORKER_EXPIRY, '-inf', NOW)
  for _, worker_id in ipairs(dead) do
    redis.call('HDEL', K_WORKERS, worker_id)
    redis.call('ZREM', K_WORKER_EXPIRY, worker_id)
  end
end
