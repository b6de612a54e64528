-- extend: heartbeat of a worker's leases, all of them in one call.
--
-- KEYS (see includes/base.lua):
--@keys leases lease-items
--@read-first lease-items
-- ARGV[3] lease ms  ARGV[4..] lease tokens
-- Returns one status per token: 'ok' (deadline now + lease ms) | 'lost' (reclaimed or
--   released: stop the step, its commit would be refused) | 'run-finished' (not extended).
--
-- Invariant: only a lease that still exists is extended (ZADD XX), so a heartbeat never
-- resurrects a lease another worker reclaimed.

local LEASE_MS = tonumber(ARGV[3])
local tokens = {}
for i = 4, #ARGV do tokens[#tokens + 1] = ARGV[i] end
local values = redis.call('HMGET', K.lease_items, unpack(tokens))
local result, extend, statuses = {}, {}, {}
for i, token in ipairs(tokens) do
  local head = leased_head(token, values[i])
  if not head then
    result[i] = 'lost'
  else
    local status = statuses[head.runId]
    if status == nil then
      -- A run whose hash cannot be read stops the step; its commit then sets it aside.
      local run = read_run(head.runId, { 'status' })
      status = run and run[1] or false
      statuses[head.runId] = status
    end
    if not status or TERMINAL[status] then
      result[i] = 'run-finished'
    else
      extend[#extend + 1], extend[#extend + 2] = NOW + LEASE_MS, token
      result[i] = 'ok'
    end
  end
end
if #extend > 0 then redis.call('ZADD', K.leases, 'XX', unpack(extend)) end
return result
