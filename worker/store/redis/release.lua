-- release: hand leased items back without counting an attempt (graceful drain).
--
-- KEYS (see includes/base.lua):
--@keys ready leases lease-items wake
--@read-first lease-items
-- ARGV[3..] lease tokens
-- Returns the number of leases released.
--
-- Invariant: a released item goes back to the head of `ready` with the same attempt, in the
-- same call that drops its lease, so it is re-delivered at once and the releasing worker can
-- no longer commit it.

local tokens = {}
for i = 3, #ARGV do tokens[#tokens + 1] = ARGV[i] end
local values = redis.call('HMGET', K.lease_items, unpack(tokens))
local released, back = 0, {}
for i, token in ipairs(tokens) do
  local head, raw = leased_head(token, values[i])
  if head then
    local run, problem = read_run(head.runId, { 'status' })
    drop_lease(token)
    released = released + 1
    if problem then
      -- Back to the queue untouched: the claim that meets it sets it aside.
      back[#back + 1] = raw
    elseif run[1] and not TERMINAL[run[1]] then
      back[#back + 1] = raw
      set_item(head.runId, head.id, head.node, head.attempt, 'queued')
    end
  end
end
if #back > 0 then
  redis.call('LPUSH', K.ready, unpack(back))
  wake()
end
return released
