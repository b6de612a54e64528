-- create-run: create a run and enqueue its first item, unless it exists already.
--
-- KEYS (see includes/base.lua):
--@keys ready wake runs expiring metrics
--@read-first expiring metrics ready
-- (metrics: read first by prefetch_metrics; ready: its RPUSH is the first write)
-- ARGV[3] workflow name  ARGV[4] run id  ARGV[5] '1' if an idempotency key follows
-- ARGV[6] idempotency key  ARGV[7] input JSON  ARGV[8] workflow version
-- ARGV[9] first item JSON  ARGV[10] its id  ARGV[11] its node  ARGV[12] its attempt
-- Returns {runId, created (1|0)}: the existing run's id when the idempotency key (or the run
--   id) names a run still retained.
--
-- Invariant: the run info exists before its first item is claimable (both happen here), so a
-- run can never finish before it is recorded. It also prunes the run index of runs whose
-- retention has passed (their keys expired in Redis already).

local WORKFLOW, RUN_ID, HAS_IDEM, IDEM = ARGV[3], ARGV[4], ARGV[5] == '1', ARGV[6]
local INPUT, VERSION = ARGV[7], ARGV[8]
local ITEM, ITEM_ID, ITEM_NODE, ITEM_ATTEMPT = ARGV[9], ARGV[10], ARGV[11], ARGV[12]
local idem_key = BASE .. ':idem:' .. IDEM
if HAS_IDEM then
  -- pcall: a wrong type is refused naming the key, at no cost to a well-formed call.
  local existing = redis.pcall('GET', idem_key)
  if type(existing) == 'table' and existing.err then
    return redis.error_reply('CORRUPT ' .. (type_problem(idem_key, 'idem') or existing.err))
  end
  if existing and redis.call('EXISTS', rkey('run', existing)) == 1 then return { existing, 0 } end
end
local run_key = rkey('run', RUN_ID)
if redis.call('EXISTS', run_key) == 1 then return { RUN_ID, 0 } end
local gone = redis.call('ZRANGEBYSCORE', K.expiring, '-inf', NOW, 'LIMIT', 0, 100)
prefetch_metrics({ 'runsStarted' })
-- Writes; the first goes to `ready`, so a `ready` of the wrong type fails before any write.
redis.call('RPUSH', K.ready, ITEM)

if #gone > 0 then
  redis.call('ZREM', K.runs, unpack(gone))
  redis.call('ZREM', K.expiring, unpack(gone))
end
if HAS_IDEM then
  redis.call('HSET', run_key, 'runId', RUN_ID, 'workflow', WORKFLOW, 'version', VERSION, 'status', 'queued',
    'input', INPUT, 'createdAt', NOW_S, 'pending', 1, 'held', 0, 'openJoins', 0, 'idempotencyKey', IDEM,
    'i:' .. ITEM_ID, item_value(nil, 'queued', ITEM_ATTEMPT, ITEM_NODE))
  redis.call('SET', idem_key, RUN_ID)
else
  redis.call('HSET', run_key, 'runId', RUN_ID, 'workflow', WORKFLOW, 'version', VERSION, 'status', 'queued',
    'input', INPUT, 'createdAt', NOW_S, 'pending', 1, 'held', 0, 'openJoins', 0,
    'i:' .. ITEM_ID, item_value(nil, 'queued', ITEM_ATTEMPT, ITEM_NODE))
end
redis.call('ZADD', K.runs, NOW, RUN_ID)
metric('runsStarted')
wake()
return { RUN_ID, 1 }
