-- pause-run: no new item of the run starts until resume; steps in flight finish.
--
-- KEYS (see includes/base.lua) (`run`: the run's hash, keys.ts):
--@keys run
--@read-first run
-- ARGV[3] run id
-- Returns {'ok', runHashFlat} | {'RunNotFound'} | {'RunFinished', status}
--
-- Invariant: items stay where they are; claim parks each item of a paused run on the run
-- (still pending) instead of leasing it, so no queue is scanned here.

local RUN_ID = ARGV[3]
local problem = check_run(RUN_ID, {})
if problem then return redis.error_reply('CORRUPT ' .. problem) end
local status = redis.call('HGET', run_hash_key(RUN_ID), 'status')
if not status then return { 'RunNotFound' } end
if TERMINAL[status] then return { 'RunFinished', status } end
if status ~= 'paused' then redis.call('HSET', run_hash_key(RUN_ID), 'status', 'paused') end
return { 'ok', snapshot(RUN_ID) }
