-- commit: apply the outcome of one step, fenced by its lease, as one atomic unit.
--
-- KEYS: the workflow keys (includes/base.lua).
-- ARGV[3] lease token  ARGV[4] run id  ARGV[5] kind: success | retry | fallback | fail
-- ARGV[6] duration ms  ARGV[7] error JSON ('' for success)  ARGV[8] retry delay ms
-- ARGV[9] dead-letter '1'|'0' (fail)  ARGV[10] hold '1'|'0' (success)
-- ARGV[11] next lease token ('' = do not claim next)  ARGV[12] workflow name  ARGV[13] worker id
-- ARGV[14] next lease ms
-- then counted lists, each `n` followed by n entries (success: events, follow-ups, arrivals,
-- outputs; fallback: follow-ups; retry and fail: none):
--   events:     event JSON (the log index is the sequence number: seq = position + 1)
--   follow-ups: 4 args each: item JSON, id, node, attempt
--   arrivals:   8 args each: frame id, index, count, value JSON, join node, join item id,
--               join item attempt, join item JSON up to `"input":`
--   outputs:    RunOutput JSON
-- Returns {'committed', runStatus} | {'lease-lost', ''} | {'run-finished', runStatus}, followed,
-- when a next lease token was given and an item was ready, by the claimed item:
--   itemJson, deadline, runEventSeq (as claim.lua's reply)
--
-- Invariant: a step's events, follow-ups, join arrivals, outputs, item state, run info,
-- metrics, errors and the ack (lease removal) are applied together or not at all. A token
-- whose lease was reclaimed or released is unknown here: that caller gets 'lease-lost' and
-- nothing is written. A run that finished meanwhile takes nothing but the ack. Claiming the next
-- item in the same script saves the worker a round trip; it is claim.lua's claim, unchanged.
--@include base
--@include items
--@include runs
--@include joins
--@include claim

local TOKEN, RUN_ID, KIND = ARGV[3], ARGV[4], ARGV[5]
local DURATION_MS, ERR = tonumber(ARGV[6]), ARGV[7]
local DELAY_MS, DEAD_LETTER, HOLD = tonumber(ARGV[8]), ARGV[9] == '1', ARGV[10] == '1'
local NEXT_TOKEN, WORKFLOW, WORKER_ID, NEXT_LEASE_MS = ARGV[11], ARGV[12], ARGV[13], tonumber(ARGV[14])

local cursor = 15
local function take()
  local value = ARGV[cursor]
  cursor = cursor + 1
  return value
end

local function apply()
  local meta, raw, legacy = read_lease(TOKEN)
  if not meta or meta.runId ~= RUN_ID then return { 'lease-lost', '' } end
  local retry_raw = KIND == 'retry' and bump_attempt(raw, meta.attempt)
  if KIND == 'retry' and not retry_raw then
    return redis.error_reply('ERR leased item ' .. meta.id .. ' is not in the canonical item encoding')
  end
  drop_lease(TOKEN, legacy)

  local run_key = rkey('run', RUN_ID)
  local status = redis.call('HGET', run_key, 'status')
  if not status then return { 'run-finished', 'cancelled' } end
  if TERMINAL[status] then
    set_item(RUN_ID, meta.id, meta.node, meta.attempt, 'cancelled')
    return { 'run-finished', status }
  end
  LIVE[RUN_ID] = true

  local function push_follow_ups()
    for _ = 1, tonumber(take()) do
      local item_raw, id, node, attempt = take(), take(), take(), tonumber(take())
      push_item(RUN_ID, status, item_raw, id, node, attempt, true)
    end
  end

  -- Integer microseconds: HINCRBY costs Redis a quarter of HINCRBYFLOAT's float formatting.
  redis.call('HINCRBY', K_METRICS, 'node:durationUsTotal:' .. meta.node, math.floor(DURATION_MS * 1000 + 0.5))

  if KIND == 'success' then
    local events = rkey('events', RUN_ID)
    for _ = 1, tonumber(take()) do redis.call('RPUSH', events, take()) end
    push_follow_ups()
    for _ = 1, tonumber(take()) do
      local frame_id, index, count, value = take(), tonumber(take()), tonumber(take()), take()
      local join_node, join_id, join_attempt, prefix = take(), take(), tonumber(take()), take()
      arrive(RUN_ID, status, frame_id, index, count, value, join_node, join_id, join_attempt, prefix)
    end
    local outputs = rkey('outputs', RUN_ID)
    for _ = 1, tonumber(take()) do redis.call('RPUSH', outputs, take()) end
    if HOLD then
      redis.call('HSET', rkey('held', RUN_ID), meta.id, raw)
      redis.call('HINCRBY', run_key, 'held', 1)
      node_metric(meta.node, 'held')
      set_item(RUN_ID, meta.id, meta.node, meta.attempt, 'held', nil, DURATION_MS, meta.attempt == 1)
    else
      node_metric(meta.node, 'completed')
      -- A first attempt's record (running) holds no duration or error: written without reading it.
      set_item(RUN_ID, meta.id, meta.node, meta.attempt, 'completed', nil, DURATION_MS, meta.attempt == 1)
    end
    redis.call('HINCRBY', run_key, 'pending', -1)
  elseif KIND == 'retry' then
    -- The retry waits in Redis, not in this worker's memory: it survives the worker.
    redis.call('ZADD', K_DELAYED, NOW + DELAY_MS, retry_raw)
    wake()
    node_metric(meta.node, 'retried')
    set_item(RUN_ID, meta.id, meta.node, meta.attempt + 1, 'retrying', ERR, DURATION_MS)
    record_error(RUN_ID, meta.id, meta.node, meta.attempt, ERR, 'retry')
  elseif KIND == 'fallback' then
    push_follow_ups()
    node_metric(meta.node, 'failed')
    set_item(RUN_ID, meta.id, meta.node, meta.attempt, 'failed', ERR, DURATION_MS)
    record_error(RUN_ID, meta.id, meta.node, meta.attempt, ERR, 'fallback')
    redis.call('HINCRBY', run_key, 'pending', -1)
  else
    node_metric(meta.node, 'failed')
    if DEAD_LETTER then
      record_error(RUN_ID, meta.id, meta.node, meta.attempt, ERR, 'dead')
      set_item(RUN_ID, meta.id, meta.node, meta.attempt, 'failed', nil, DURATION_MS)
      dead_letter(RUN_ID, raw, meta.id, meta.node, meta.attempt, ERR)
    else
      record_error(RUN_ID, meta.id, meta.node, meta.attempt, ERR, 'fail')
      set_item(RUN_ID, meta.id, meta.node, meta.attempt, 'failed', ERR, DURATION_MS)
      redis.call('HINCRBY', run_key, 'pending', -1)
      finish(RUN_ID, 'failed', ERR)
    end
  end

  return { 'committed', settle(RUN_ID) }
end

local reply = apply()
if NEXT_TOKEN ~= '' and not reply.err then
  local claimed = claim_next(WORKFLOW, WORKER_ID, NEXT_LEASE_MS, NEXT_TOKEN)
  if claimed[1] == 'item' then
    reply[3], reply[4], reply[5] = claimed[2], claimed[3], claimed[4]
  end
end
return reply
