-- create-run: create a run and enqueue its first item, unless it exists already.
--
-- KEYS: the workflow keys (includes/base.lua).
-- ARGV[3] workflow name  ARGV[4] run id  ARGV[5] '1' if an idempotency key follows
-- ARGV[6] idempotency key  ARGV[7] input JSON  ARGV[8] workflow version
-- ARGV[9] first item JSON  ARGV[10] its id  ARGV[11] its node  ARGV[12] its attempt
-- Returns {runId, created (1|0)}: the existing run's id when the idempotency key (or the run
--   id) names a run still retained.
--
-- Invariant: the run info exists before its first item is claimable (both happen here), so a
-- run can never finish before it is recorded. It also prunes the run indexes of runs whose
-- retention has passed (their keys expired in Redis already).
--@include base
--@include items
--@include runs

local WORKFLOW, RUN_ID, HAS_IDEM, IDEM = ARGV[3], ARGV[4], ARGV[5] == '1', ARGV[6]
local INPUT, VERSION = ARGV[7], ARGV[8]
local ITEM, ITEM_ID, ITEM_NODE, ITEM_ATTEMPT = ARGV[9], ARGV[10], ARGV[11], tonumber(ARGV[12])

for _, gone in ipairs(redis.call('ZRANGEBYSCORE', K_EXPIRING, '-inf', NOW, 'LIMIT', 0, 100)) do
  redis.call('ZREM', K_RUNS, gone)
  for status in pairs(TERMINAL) do redis.call('ZREM', BASE .. ':runs:' .. status, gone) end
  redis.call('ZREM', K_EXPIRING, gone)
end

local idem_key = BASE .. ':idem:' .. IDEM
if HAS_IDEM then
  local existing = redis.call('GET', idem_key)
  if existing and redis.call('EXISTS', rkey('run', existing)) == 1 then return { existing, 0 } end
end
local run_key = rkey('run', RUN_ID)
if redis.call('EXISTS', run_key) == 1 then return { RUN_ID, 0 } end

redis.call('HSET', run_key, 'runId', RUN_ID, 'workflow', WORKFLOW,
  'version', VERSION, 'status', 'queued', 'input', INPUT, 'createdAt', int(NOW), 'pending', 0, 'held', 0, 'openJoins', 0,
  'keyFlags', 1)
if HAS_IDEM then
  redis.call('HSET', run_key, 'idempotencyKey', IDEM)
  redis.call('SET', idem_key, RUN_ID)
end
redis.call('ZADD', K_RUNS, NOW, RUN_ID)
redis.call('ZADD', BASE .. ':runs:queued', NOW, RUN_ID)
metric('runsStarted')
push_item(RUN_ID, 'queued', ITEM, ITEM_ID, ITEM_NODE, ITEM_ATTEMPT, true)
return { RUN_ID, 1 }
