-- release: hand leased items back without counting an attempt (graceful drain).
--
-- KEYS: the workflow keys (includes/base.lua).
-- ARGV[3..] lease tokens
-- Returns the number of leases released.
--
-- Invariant: a released item goes back to the head of `ready` with the same attempt, in the
-- same script that drops its lease, so it is re-delivered at once and the releasing worker can
-- no longer commit it.
--@include base
--@include items

local released = 0
for i = 3, #ARGV do
  local token = ARGV[i]
  local meta, raw, legacy = read_lease(token)
  if meta then
    drop_lease(token, legacy)
    released = released + 1
    local status = redis.call('HGET', rkey('run', meta.runId), 'status')
    if raw and status and not TERMINAL[status] then
      redis.call('LPUSH', K_READY, raw)
      set_item(meta.runId, meta.id, meta.node, meta.attempt, 'queued')
      wake()
    end
  end
end
return released
