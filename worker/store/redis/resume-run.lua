-- resume-run: un-park a paused run's items and re-deliver its held items.
--
-- KEYS (see includes/base.lua) (`run`: the run's hash, keys.ts):
--@keys run metrics
--@read-first run
-- ARGV[3] run id
-- Returns {'ok', runHashFlat} | {'RunNotFound'} | {'RunFinished', status}
--
-- The workflow's parked gauge (metrics `parkedItems`, codec.ts) drops by what it re-delivers.
--
-- Invariant: parked items were pending all along and keep their count; held items were not,
-- so each becomes pending again as it is enqueued. Both keep their attempt, and their run's
-- version: they go back to the queue of the version the run is pinned to (keys.ts), whichever
-- version's store resumes it.

local RUN_ID = ARGV[3]
local problem = check_run(RUN_ID, { 'parked', 'held' })
if problem then return redis.error_reply('CORRUPT ' .. problem) end
local run_key = run_hash_key(RUN_ID)
local run = redis.call('HMGET', run_key, 'status', 'version')
local status = run[1]
if not status then return { 'RunNotFound' } end
if TERMINAL[status] then return { 'RunFinished', status } end
problem = use_run_version(run_key, run[2])
if problem then return redis.error_reply('CORRUPT ' .. problem) end
local resumed = redis.call('HEXISTS', run_key, 'startedAt') == 1 and 'running' or 'queued'
if status ~= resumed then redis.call('HSET', run_key, 'status', resumed) end

local parked = redis.call('LRANGE', rkey('parked', RUN_ID), 0, -1)
for _, raw in ipairs(parked) do
  local item = parse_item(raw, nil)
  redis.call('RPUSH', K.ready, raw)
  if item then set_item(RUN_ID, item.id, item.node, item.attempt, 'queued') end
end
redis.call('DEL', rkey('parked', RUN_ID))
local held = redis.call('HGETALL', rkey('held', RUN_ID))
for i = 1, #held, 2 do
  local item = parse_item(held[i + 1], nil)
  redis.call('HINCRBY', run_key, 'held', -1)
  if item then push_item(RUN_ID, resumed, held[i + 1], item.id, item.node, item.attempt) end
end
redis.call('DEL', rkey('held', RUN_ID))
metric('parkedItems', -(#parked + #held / 2))
if #parked > 0 then wake() end
return { 'ok', snapshot(RUN_ID) }
