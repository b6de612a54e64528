-- list-workers: the workers whose last heartbeat has not expired.
--
-- KEYS: the workflow keys (includes/base.lua).
-- Returns the WorkerLiveness JSON of each live worker.
--@include base
--@include workers

forget_dead_workers()
local live = {}
local entries = redis.call('HGETALL', K_WORKERS)
for i = 1, #entries, 2 do
  local value = entries[i + 1]
  local sep = string.find(value, '|', 1, true)
  if sep then live[#live + 1] = string.sub(value, sep + 1) end
end
return live
