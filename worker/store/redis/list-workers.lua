-- list-workers: the workers whose last heartbeat has not expired.
--
-- KEYS (see includes/base.lua):
--@keys workers worker-expiry
-- Returns the WorkerLiveness JSON of each live worker.

forget_dead_workers()
local live = {}
local entries = redis.call('HGETALL', K.workers)
for i = 1, #entries, 2 do
  local value = entries[i + 1]
  local sep = string.find(value, '|', 1, true)
  if sep then live[#live + 1] = string.sub(value, sep + 1) end
end
return live
