-- cancel-run: end the run; nothing of it is delivered or committed afterwards.
--
-- KEYS: the workflow keys (includes/base.lua).
-- ARGV[3] run id  ARGV[4] reason
-- Returns {'ok', runHashFlat, outputs} | {'RunNotFound'}
--
-- Invariant: the status flips here, once; queued items are dropped when claimed, leased ones
-- see 'run-finished' on their next heartbeat and commit, parked and held ones are cancelled
-- now. Cancelling a finished run changes nothing.
--@include base
--@include items
--@include runs

local RUN_ID, REASON = ARGV[3], ARGV[4]
if redis.call('EXISTS', rkey('run', RUN_ID)) == 0 then return { 'RunNotFound' } end
finish(RUN_ID, 'cancelled', error_json('Cancelled', REASON))
for _, raw in ipairs(redis.call('LRANGE', rkey('parked', RUN_ID), 0, -1)) do
  local item = cjson.decode(raw)
  set_item(RUN_ID, item.id, item.node, item.attempt, 'cancelled')
end
redis.call('DEL', rkey('parked', RUN_ID))
local snap = snapshot(RUN_ID)
return { 'ok', snap[1], snap[2] }
