-- create-run: create a run on the version the rollout state chooses and enqueue its first item,
-- unless it exists already.
--
-- KEYS (see includes/base.lua):
--@keys versions runs expiring metrics
--@read-first versions expiring
-- ARGV[3] workflow name  ARGV[4] run id  ARGV[5] '1' if an idempotency key follows
-- ARGV[6] idempotency key  ARGV[7] input JSON  ARGV[8] the caller's workflow version
-- ARGV[9] first item JSON (of the caller's version)  ARGV[10] its id  ARGV[11] its node
-- ARGV[12] its attempt
-- Returns {runId, created (1|0), version}: the existing run's id (and '') when the idempotency
--   key (or the run id) names a run still retained.
--
-- The version (keys.ts `versions`): `current` when set, else the caller's; while a ramp is on
-- (`ramp-until` not passed), `ramp-percent` % of new runs go to `ramp-version`, chosen by a hash
-- of the run id (uniform over random ids, and the same for a re-sent start); after `ramp-until`
-- every new run does. The run and its first item record the version chosen; the item goes to
-- that version's queue keys, which are built here (the one function besides resume-run that
-- enqueues outside the caller's version). The version is registered (`v:<version>`) the first
-- time a run uses it, so the depth reader knows every version that may hold items.
--
-- Invariant: the run info exists before its first item is claimable (both happen here), so a
-- run can never finish before it is recorded. It also prunes the run index of runs whose
-- retention has passed (their keys expired in Redis already).

local WORKFLOW, RUN_ID, HAS_IDEM, IDEM = ARGV[3], ARGV[4], ARGV[5] == '1', ARGV[6]
local INPUT, CALLER = ARGV[7], ARGV[8]
local ITEM, ITEM_ID, ITEM_NODE, ITEM_ATTEMPT = ARGV[9], ARGV[10], ARGV[11], ARGV[12]

-- The rollout state first: a `versions` of another type fails here, before any write.
local rollout = redis.call('HMGET', K.versions, 'current', 'ramp-version', 'ramp-percent', 'ramp-until',
  'v:' .. CALLER)
local version = rollout[1] or CALLER
if rollout[2] then
  local percent, untill = tonumber(rollout[3]), tonumber(rollout[4])
  if not percent or not untill or percent < 0 or percent > 100 then
    return redis.error_reply('CORRUPT the ramp in ' .. K.versions .. ' is not a percentage and a time: '
      .. 'write the rollout again (floxide operator or writeRollout)')
  end
  if NOW >= untill or tonumber(string.sub(redis.sha1hex(RUN_ID), 1, 8), 16) % 10000 < percent * 100 then
    version = rollout[2]
  end
end

local idem_key = BASE .. ':idem:' .. IDEM
if HAS_IDEM then
  -- pcall: a wrong type is refused naming the key, at no cost to a well-formed call.
  local existing = redis.pcall('GET', idem_key)
  if type(existing) == 'table' and existing.err then
    return redis.error_reply('CORRUPT ' .. (type_problem(idem_key, 'idem') or existing.err))
  end
  if existing and redis.call('EXISTS', run_hash_key(existing)) == 1 then return { existing, 0, '' } end
end
local run_key = run_hash_key(RUN_ID)
if redis.call('EXISTS', run_key) == 1 then return { RUN_ID, 0, '' } end
local gone = redis.call('ZRANGEBYSCORE', K.expiring, '-inf', NOW_S, 'LIMIT', '0', '100')

if version ~= CALLER then
  -- The caller built the item for its own version: the same item, of the chosen version.
  local needle = ',"version":' .. jstr(CALLER) .. ',"node":'
  local at, stop = string.find(ITEM, needle, 1, true)
  if not at then return redis.error_reply('the first item is not in the canonical item encoding') end
  ITEM = string.sub(ITEM, 1, at - 1) .. ',"version":' .. jstr(version) .. ',"node":' .. string.sub(ITEM, stop + 1)
end
local ready = vkey('ready', version)
local problem = type_problem(ready, 'ready')
if problem then return redis.error_reply('CORRUPT ' .. problem) end

-- Writes. The doorbell first: a wake key of another type fails this first write, so it needs no
-- TYPE check (end_call's ring is not used: it would ring the caller's version).
local wake_key = vkey('wake', version)
local rang = redis.pcall('ZADD', wake_key, '0', 'w')
if type(rang) == 'table' and rang['err'] then
  return redis.error_reply('CORRUPT key ' .. wake_key .. ' is not a zset')
end
if #gone > 0 then
  redis.call('ZREM', K.runs, unpack(gone))
  redis.call('ZREM', K.expiring, unpack(gone))
end
if HAS_IDEM then
  redis.call('HSET', run_key, 'runId', RUN_ID, 'workflow', WORKFLOW, 'version', version, 'status', 'queued',
    'input', INPUT, 'createdAt', NOW_S, 'pending', '1', 'held', '0', 'openJoins', '0', 'idempotencyKey', IDEM,
    'i:' .. ITEM_ID, item_value(nil, 'queued', ITEM_ATTEMPT, ITEM_NODE))
  redis.call('SET', idem_key, RUN_ID)
else
  redis.call('HSET', run_key, 'runId', RUN_ID, 'workflow', WORKFLOW, 'version', version, 'status', 'queued',
    'input', INPUT, 'createdAt', NOW_S, 'pending', '1', 'held', '0', 'openJoins', '0',
    'i:' .. ITEM_ID, item_value(nil, 'queued', ITEM_ATTEMPT, ITEM_NODE))
end
-- The caller's version is registered on its first run; a rollout's versions when it is written.
if version == CALLER and not rollout[5] then redis.call('HSET', K.versions, 'v:' .. CALLER, NOW_S) end
redis.call('ZADD', K.runs, NOW_S, RUN_ID)
metric('runsStarted')
redis.call('RPUSH', ready, ITEM)
return { RUN_ID, 1, version }
