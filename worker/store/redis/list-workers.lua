-- list-workers: the workers whose last heartbeat has not expired; forgets the others.
--
-- KEYS: the workflow keys (includes/base.lua).
-- Returns the WorkerLiveness JSON of each live worker.
--@include base

local live = {}
local entries = redis.call('HGETALL', K_WORKERS)
for i = 1, #entries, 2 do
  local value = entries[i + 1]
  local sep = string.find(value, '|', 1, true)
  if sep and tonumber(string.sub(value, 1, sep - 1)) > NOW then
    live[#live + 1] = string.sub(value, sep + 1)
  else
    redis.call('HDEL', K_WORKERS, entries[i])
  end
end
return live
