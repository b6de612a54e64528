-- pause-run: no new item of the run starts until resume; steps in flight finish.
--
-- KEYS: the workflow keys (includes/base.lua).
-- ARGV[3] run id
-- Returns {'ok', runHashFlat, outputs} | {'RunNotFound'} | {'RunFinished', status}
--
-- Invariant: items stay where they are; claim parks each item of a paused run on the run
-- (still pending) instead of leasing it, so no queue is scanned here.
--@include base
--@include items
--@include runs

local RUN_ID = ARGV[3]
local status = redis.call('HGET', rkey('run', RUN_ID), 'status')
if not status then return { 'RunNotFound' } end
if TERMINAL[status] then return { 'RunFinished', status } end
if status ~= 'paused' then set_status(RUN_ID, status, 'paused') end
local snap = snapshot(RUN_ID)
return { 'ok', snap[1], snap[2] }
