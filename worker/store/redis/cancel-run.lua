-- cancel-run: end the run; nothing of it is delivered or committed afterwards.
--
-- KEYS (see includes/base.lua) (`run`: the run's hash, keys.ts):
--@keys run metrics expiring
--@read-first run
-- ARGV[3] run id  ARGV[4] reason
-- Returns {'ok', runHashFlat} | {'RunNotFound'}
--
-- Invariant: the status flips here, once; queued items are dropped when claimed, leased ones
-- see 'run-finished' on their next heartbeat and commit, parked and held ones are cancelled
-- now. Cancelling a finished run changes nothing.

local RUN_ID, REASON = ARGV[3], ARGV[4]
local problem = check_run(RUN_ID, { 'parked', 'held' })
if problem then return redis.error_reply('CORRUPT ' .. problem) end
if redis.call('EXISTS', run_hash_key(RUN_ID)) == 0 then return { 'RunNotFound' } end
finish(RUN_ID, 'cancelled', error_json('Cancelled', REASON))
for _, raw in ipairs(redis.call('LRANGE', rkey('parked', RUN_ID), 0, -1)) do
  local item = parse_item(raw, nil)
  if item then set_item(RUN_ID, item.id, item.node, item.attempt, 'cancelled') end
end
redis.call('DEL', rkey('parked', RUN_ID))
return { 'ok', snapshot(RUN_ID) }
