-- extend: heartbeat of a worker's leases, all of them in one call.
--
-- KEYS: the workflow keys (includes/base.lua).
-- ARGV[3] lease ms  ARGV[4..] lease tokens
-- Returns one status per token: 'ok' (deadline now + lease ms) | 'lost' (reclaimed or
--   released: stop the step, its commit would be refused) | 'run-finished' (not extended).
--
-- Invariant: only a lease that still exists is extended (ZADD XX), so a heartbeat never
-- resurrects a lease another worker reclaimed.
--@include base

local LEASE_MS = tonumber(ARGV[3])
local result = {}
for i = 4, #ARGV do
  local token = ARGV[i]
  local meta = read_lease(token)
  if not meta then
    result[#result + 1] = 'lost'
  else
    local status = redis.call('HGET', rkey('run', meta.runId), 'status')
    if not status or TERMINAL[status] then
      result[#result + 1] = 'run-finished'
    else
      redis.call('ZADD', K_LEASES, 'XX', NOW + LEASE_MS, token)
      result[#result + 1] = 'ok'
    end
  end
end
return result
