-- redrive: take one dead letter out of the dead list: put its item back with a fresh attempt
-- count ('redrive'), or drop it ('discard').
--
-- KEYS (see includes/base.lua):
--@keys dead ready wake metrics expiring
--@read-first dead
-- ARGV[3] item id  ARGV[4] 'redrive' | 'discard'  ARGV[5] workflow name
-- Returns {'ok', runId, runStatus} (runStatus: the run's status afterwards; '' for a discard)
--   | {'NotFound'} (no dead letter of that item) | {'NotAnItem', problem} (a set-aside entry no
--   worker could run: discard it) | {'RunNotFound', runId} (its run expired: discard it)
--   | {'RunFinished', runId, status} (completed or cancelled since: nothing to redrive into)
--
-- The item is re-enqueued into its run's version's queue (keys.ts: per-version queues).
--
-- Invariant: the entry leaves the dead list in the same call that re-enqueues its item, so an
-- item is never both dead and queued, nor lost. A dead letter failed its run (runs.lua
-- dead_letter); redriving it revives that run: status back to running (queued if it never
-- started), error and finishedAt cleared, its keys' retention clock stopped, and `pending` set
-- to this item plus the run's items still live by their records (queued, running, retrying,
-- parked), since items dropped while the run was failed were never counted down. Branches of a
-- fan-out dropped while it was failed do not come back: a join waiting for them ends the run
-- with JoinIncomplete. Cost: one pass over the dead list (newest first) to find the entry,
-- plus the run's hash for a revival.

local ITEM_ID, ACTION, WORKFLOW = ARGV[3], ARGV[4], ARGV[5]
if ACTION ~= 'redrive' and ACTION ~= 'discard' then
  return redis.error_reply('ERR redrive: action must be redrive or discard, got ' .. tostring(ACTION))
end

-- Find the entry: a cheap plain search for the id, then a full decode of each candidate.
local needle = '"id":' .. jstr(ITEM_ID)
local entry, item_raw
local total = redis.call('LLEN', K.dead)
local stop = total - 1
while stop >= 0 and not entry do
  local start = math.max(0, stop - 999)
  local chunk = redis.call('LRANGE', K.dead, start, stop)
  for i = #chunk, 1, -1 do
    local raw = chunk[i]
    if string.find(raw, needle, 1, true) then
      local ok, decoded = pcall(cjson.decode, raw)
      if ok and type(decoded) == 'table' and type(decoded.item) == 'table' and decoded.item.id == ITEM_ID then
        entry = raw
        -- Error JSON holds only strings, so this marker can only be the item's own start.
        local at = string.find(raw, ',"item":{"attempt":', 1, true)
        item_raw = at and string.sub(raw, at + 8, #raw - 1)
        break
      end
    end
  end
  stop = start - 1
end
if not entry then return { 'NotFound' } end

if ACTION == 'discard' then
  redis.call('LREM', K.dead, -1, entry)
  return { 'ok', '', '' }
end

local head, problem = nil, 'no item in the entry'
if item_raw then head, problem = parse_item(item_raw, WORKFLOW) end
if not head then return { 'NotAnItem', problem } end
local fresh = '{"attempt":1,' .. string.sub(item_raw, #attempt_prefix(head.attempt) + 1)
local RUN_ID = head.runId
local run_key = run_hash_key(RUN_ID)

local problem_run = check_run(RUN_ID, { 'events', 'joins', 'open-joins', 'parked', 'checkpoint', 'run-errors' })
if problem_run then return redis.error_reply('CORRUPT ' .. problem_run) end
local run = redis.call('HMGET', run_key, 'status', 'startedAt', 'idempotencyKey', 'pending', 'version')
local status = run[1]
if not status then return { 'RunNotFound', RUN_ID } end
if status == 'completed' or status == 'cancelled' then return { 'RunFinished', RUN_ID, status } end
-- The item goes back to the queue of the version its run is pinned to, whichever version's
-- store redrives it (as resume-run does).
local problem_queue = use_run_version(run_key, run[5])
if problem_queue then return redis.error_reply('CORRUPT ' .. problem_queue) end

local LIVE_ITEM = { queued = true, running = true, retrying = true, parked = true }
local pending
if status == 'failed' then
  pending = 1
  local fields = redis.call('HGETALL', run_key)
  for i = 1, #fields, 2 do
    local name = fields[i]
    if string.sub(name, 1, 2) == 'i:' and name ~= 'i:' .. ITEM_ID then
      local item_status = string.match(fields[i + 1], '^([^\t]*)\t')
      if LIVE_ITEM[item_status] then pending = pending + 1 end
    end
  end
  status = run[2] and 'running' or 'queued'
end

-- Writes.
redis.call('LREM', K.dead, -1, entry)
if pending then
  redis.call('HSET', run_key, 'status', status, 'pending', pending)
  redis.call('HDEL', run_key, 'finishedAt', 'error')
  for _, kind in ipairs({ 'run', 'events', 'joins', 'open-joins', 'parked', 'checkpoint', 'errors' }) do
    redis.call('PERSIST', rkey(kind, RUN_ID))
  end
  if run[3] then redis.call('PERSIST', BASE .. ':idem:' .. run[3]) end
  redis.call('ZREM', K.expiring, RUN_ID)
  -- Items it parked while paused are parked again (finish took them out of the count).
  metric('parkedItems', redis.call('LLEN', rkey('parked', RUN_ID)))
  LIVE[RUN_ID] = true
  enqueue(RUN_ID, status, fresh, head.id, head.node, 1)
else
  push_item(RUN_ID, status, fresh, head.id, head.node, 1)
end
metric('redriven')
return { 'ok', RUN_ID, status }
