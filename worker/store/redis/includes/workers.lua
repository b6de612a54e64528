-- Worker liveness. Needs `base`.

-- Forgets workers whose last heartbeat expired (usually none: one O(log n) range query).
local function forget_dead_workers()
  local dead = redis.call('ZRANGEBYSCORE', K.worker_expiry, '-inf', NOW)
  for _, worker_id in ipairs(dead) do
    redis.call('HDEL', K.workers, worker_id)
    redis.call('ZREM', K.worker_expiry, worker_id)
  end
end
