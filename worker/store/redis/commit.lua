-- commit: apply the outcomes of a batch of steps, each fenced by its own lease, then claim the
-- caller's next items; the whole call is one atomic unit.
--
-- KEYS (see includes/base.lua):
--@keys ready leases lease-items delayed wake dead errors metrics expiring
--@read-first lease-items leases
--@checked-late delayed dead errors expiring
-- (checked by each entry that may write them, before its first write: most commits write none)
-- ARGV[3] workflow name  ARGV[4] n: commits in the batch
-- then n commits, each: its argument count (what follows, for this commit), lease token, run id, kind (success | retry | fallback | fail),
--   duration µs (an integer), error JSON ('' for success), retry delay ms, dead-letter '1'|'0' (fail),
--   hold '1'|'0' (success), then counted lists, each `k` followed by its entries (success:
--   events, follow-ups, arrivals, outputs; fallback: follow-ups; retry and fail: none):
--     events:     event JSON (the log index is the sequence number: seq = position + 1)
--     follow-ups: 4 args each: item JSON, id, node, attempt; a count of -n means the step
--                 staged its n follow-ups under its lease token (stage.lua) and sends none here
--     arrivals:   8 args each: frame id, index, count, value JSON, join node, join item id,
--                 join item attempt, join item JSON up to `"input":`
--     outputs:    RunOutput JSON
-- then the claim after the batch: lease ms, then pairs (lease token, worker id), one per item
--   wanted (none: claim nothing)
-- Returns {status_1, runStatus_1, ..., status_n, runStatus_n, claimKind, claimDue, claimed...}:
--   status 'committed' | 'lease-lost' | 'run-finished' | 'error' (runStatus holds the message) |
--   'corrupt' (the run's data cannot be trusted: the item was set aside, runStatus says why);
--   claimKind, claimDue and the claimed items as claim.lua's reply ('none' when no claim).
--
-- Invariant: each step's events, follow-ups, join arrivals, outputs, item record, run info,
-- metrics, errors and ack (lease removal) are applied together or not at all, and each step is
-- checked before its first write (lease, run, the retry's encoding). A token whose lease was
-- reclaimed or released is unknown here: that step gets 'lease-lost' and writes nothing; the
-- other steps of the batch commit. A run that finished meanwhile takes nothing but the ack.
-- Staged follow-ups are published here with the rest of the step (their list is checked whole
-- before the first write) and their staging list dropped with the lease, whatever the outcome.

-- The helpers above `--@body` are defined once, at FUNCTION LOAD (scripts.ts); the state of a
-- call they share is set by the body at its start.
local ARGS, cursor -- ARGV, and the position of the next argument `take` reads
local LEASES, HEADS, RAWS, DROPPED, GONE, STAGED -- per commit of the batch (see the body)
local counts_at, events_n, follow_ups_n, arrivals_n, arrivals_at -- success_counts()
-- What arrivals_problem() read of each arrival's join slot (its name, count, got and the value
-- at this arrival's index), for arrive() to use instead of reading the slot again; `slots_read`
-- is true while they belong to the commit being applied (apply_one clears it). A slot the step
-- arrives at twice is read again by arrive() the second time (its name is false here): the
-- first arrival changed it. Nothing else the step writes before its arrivals touches the slots.
local READ_SLOT, READ_COUNT, READ_GOT, READ_SEEN, slots_read = {}, {}, {}, {}, false

local function take()
  local value = ARGS[cursor]
  cursor = cursor + 1
  return value
end

-- The counter per node of a retry's or a failure's outcome (a success's is its item status).
local function outcome_counter(kind)
  return kind == 'retry' and 'retried' or 'failed'
end

-- The run hash fields a commit reads up front: FINISH_FIELDS (runs.lua), then `outputs`.
local COMMIT_FIELDS = { 'status', 'held', 'idempotencyKey', 'openJoins', 'aux', 'eventSeq', 'pending', 'outputs' }

-- Publishes the n follow-ups staged under `token` (stage.lua), CHUNK at a time: one LRANGE and
-- one RPUSH each, nothing per item. They get no `queued` record (that would be an HSET field
-- each, most of the cost): a staged item's record appears when it is first claimed, and the
-- run's `pending` counts it from now. A paused run parks them.
local function publish_staged(token, run_id, status, n)
  local key = staged_key(token)
  local list = status == 'paused' and rkey('parked', run_id) or K.ready
  for first = 0, n - 1, CHUNK do
    redis.call('RPUSH', list, unpack(redis.call('LRANGE', key, first, math.min(first + CHUNK, n) - 1)))
  end
  if status == 'paused' then mark_aux(run_id) else wake() end
end

local function success(token, head, raw, run_id, run, old, duration_s, hold)
  local run_key = run_hash_key(run_id)
  local status = run[1]
  local r2, r4, r6, r7, r8 = run[2], run[4], run[6] or 0, run[7], run[8] or 0
  local held, open_joins = NUM_OF[r2] or num(r2), NUM_OF[r4] or num(r4)
  local event_seq, pending, outputs = NUM_OF[r6] or num(r6), (NUM_OF[r7] or num(r7)) - 1, NUM_OF[r8] or num(r8)
  local fields = {}
  local n = take()
  n = NUM_OF[n] or num(n)
  if n > 0 then
    local events = {}
    for i = 1, n do events[i] = take() end
    call_many('RPUSH', rkey('events', run_id), events)
    event_seq = event_seq + n
    fields[#fields + 1], fields[#fields + 2] = 'eventSeq', int(event_seq)
  end
  n = take()
  n = NUM_OF[n] or num(n)
  if n < 0 then
    pending = pending - n
    publish_staged(token, run_id, status, -n)
  elseif n > 0 then
    pending = pending + n
    local ready = {}
    for _ = 1, n do
      local item_raw, id, node, attempt = take(), take(), take(), take()
      if status == 'paused' then park_item(run_id, item_raw, id, node, attempt, true)
      else
        ready[#ready + 1] = item_raw
        fields[#fields + 1], fields[#fields + 2] = 'i:' .. id, item_value(nil, 'queued', attempt, node)
      end
    end
    if #ready > 0 then
      call_many('RPUSH', K.ready, ready)
      wake()
    end
  end
  n = take()
  n = NUM_OF[n] or num(n)
  if n > 0 then
    local opened = open_joins
    for j = 1, n do
      -- Index, count and attempt as sent (strings: written without formatting) and read as numbers.
      local frame_id, index_s, count_s, value = take(), take(), take(), take()
      local join_node, join_id, join_attempt, prefix = take(), take(), take(), take()
      local read = slots_read and READ_SLOT[j]
      local fired, delta = arrive(run_id, frame_id, index_s, count_s, value, join_node, join_id, join_attempt, prefix,
        read, READ_COUNT[j], READ_GOT[j], READ_SEEN[j])
      open_joins = open_joins + delta
      if fired then
        pending = pending + 1
        enqueue(run_id, status, fired[1], fired[2], fired[3], fired[4], true)
      end
    end
    if open_joins ~= opened then fields[#fields + 1], fields[#fields + 2] = 'openJoins', int(open_joins) end
  end
  n = take()
  n = NUM_OF[n] or num(n)
  if n > 0 then
    for _ = 1, n do
      outputs = outputs + 1
      fields[#fields + 1], fields[#fields + 2] = 'o:' .. int(outputs), take()
    end
    fields[#fields + 1], fields[#fields + 2] = 'outputs', int(outputs)
  end
  local item_status = 'completed'
  if hold then
    item_status = 'held'
    redis.call('HSET', rkey('held', run_id), head.id, raw)
    held = held + 1
    metric('parkedItems')
    fields[#fields + 1], fields[#fields + 2] = 'held', int(held)
  end
  node_metric(head.node, item_status)
  fields[#fields + 1], fields[#fields + 2] = 'i:' .. head.id,
    item_value(old, item_status, head.attempt_s, head.node, nil, duration_s)
  fields[#fields + 1], fields[#fields + 2] = 'pending', int(pending)
  -- Quiescence: nothing pending or held. Complete, unless a join still waits for branches.
  local final = status
  if pending == 0 and held == 0 and open_joins == 0 then
    final = 'completed'
    fields[#fields + 1], fields[#fields + 2] = 'status', 'completed'
    fields[#fields + 1], fields[#fields + 2] = 'finishedAt', NOW_S
  end
  call_many('HSET', run_key, fields)
  -- `run` now holds the run's FINISH_FIELDS as they are (in the table HMGET gave: no new one).
  run[2], run[4], run[6], run[7] = held, open_joins, event_seq, pending
  if final == 'completed' then
    LIVE[run_id] = nil
    metric('runsCompleted')
    expire_run(run_id, run)
  elseif pending == 0 and held == 0 then
    finish(run_id, 'failed', join_incomplete(run_id), run)
    final = 'failed'
  end
  return final
end

-- The counts of a success's lists (events, follow-ups, arrivals), read ahead of `take`; the
-- follow-ups' count as sent (negative: staged), the others as listed here. Parsed once per
-- entry (the checks ask several times).
local function success_counts()
  if counts_at ~= cursor then
    local s = ARGS[cursor]
    events_n = NUM_OF[s] or num(s)
    s = ARGS[cursor + 1 + events_n]
    follow_ups_n = NUM_OF[s] or num(s)
    local listed = follow_ups_n > 0 and follow_ups_n or 0
    s = ARGS[cursor + 2 + events_n + 4 * listed]
    arrivals_n = NUM_OF[s] or num(s)
    counts_at, arrivals_at = cursor, cursor + 3 + events_n + 4 * listed
  end
  return events_n, follow_ups_n, arrivals_n, arrivals_at
end

-- The run's keys besides its hash that this commit may write (their types are checked first).
-- NONE (shared, never written): a success that writes nothing but the run's hash.
local NONE = {}
local function keys_written(kind, hold, status)
  if kind == 'success' then
    local events, follow_ups, arrivals = success_counts()
    local paused = status == 'paused' and (follow_ups ~= 0 or arrivals > 0)
    if events == 0 and arrivals == 0 and not hold and not paused then return NONE end
    local kinds = {}
    if events > 0 then kinds[#kinds + 1] = 'events' end
    if arrivals > 0 then kinds[#kinds + 1], kinds[#kinds + 2] = 'joins', 'open-joins' end
    if hold then kinds[#kinds + 1] = 'held' end
    if paused then kinds[#kinds + 1] = 'parked' end
    return kinds
  end
  local kinds = { 'run-errors' }
  if status == 'paused' then kinds[#kinds + 1] = 'parked' end
  return kinds
end

-- Why this commit cannot write the workflow keys its outcome may write (those not checked
-- upfront: `--@checked-late`), or nil. A success may finish its run (expiring) when nothing else
-- stays pending; a retry waits in `delayed`; failures record errors, dead-letter and finish.
local function late_keys_problem(kind, hold, run, dead_letter_it)
  if kind == 'success' then
    local _, follow_ups = success_counts()
    local pending = run[7]
    if hold or (NUM_OF[pending] or num(pending)) - 1 + math.abs(follow_ups) > 0 then return nil end
    return key_problem('expiring')
  end
  local problem = key_problem('errors')
  if kind == 'retry' then return problem or key_problem('delayed') end
  return problem or (dead_letter_it and key_problem('dead')) or key_problem('expiring')
end

-- Why an open join slot this success arrives at cannot be trusted (arrive() reads it after the
-- step's first writes), or nil.
local function arrivals_problem(run_id)
  local _, _, arrivals, at = success_counts()
  if arrivals == 0 then return nil end
  local key = rkey('joins', run_id)
  local met = arrivals > 1 and {} or nil
  for i = 0, arrivals - 1 do
    local base = at + i * 8
    local slot = ARGS[base] .. '>' .. ARGS[base + 4]
    local v = redis.call('HMGET', key, slot .. '|count', slot .. '|got', slot .. '|attempt', slot .. '|item', slot .. '|id',
      slot .. '|v|' .. ARGS[base + 1])
    if v[1] or v[2] or v[3] or v[4] or v[5] then
      if not (v[1] and v[2] and v[3] and v[4] and v[5]) or not is_int(v[1]) or not is_int(v[2]) or not is_int(v[3]) then
        return 'join slot ' .. slot .. ' of ' .. key .. ' is incomplete or not numeric'
      end
    end
    local again = met and met[slot]
    if met then met[slot] = true end
    READ_SLOT[i + 1], READ_COUNT[i + 1], READ_GOT[i + 1], READ_SEEN[i + 1] = not again and slot, v[1], v[2], v[6]
  end
  slots_read = true
  return nil
end

-- Drops the lease of `token` with the batch's last writes (one ZREM and one HDEL for the batch);
-- the token counts as gone for the rest of the batch.
local function drop_later(token)
  GONE[token] = true
  DROPPED[#DROPPED + 1] = token
end

-- Commit `i` of the batch: returns status, runStatus.
local function apply_one(i)
  -- Its eight fixed arguments in one unpack (a call of `take` each costs more).
  local token, run_id, kind, duration_s, err, delay_s, dead_letter_s, hold_s = unpack(ARGS, cursor, cursor + 7)
  cursor = cursor + 8
  slots_read = false
  local duration_us = NUM_OF[duration_s] or num(duration_s)
  local delay_ms, dead_letter_it, hold = NUM_OF[delay_s] or num(delay_s), dead_letter_s == '1', hold_s == '1'
  -- Reads and checks first.
  if kind == 'success' then
    local _, follow_ups = success_counts()
    if follow_ups < 0 then STAGED[#STAGED + 1] = token end
  end
  if GONE[token] then return 'lease-lost', '' end
  local value = LEASES[i]
  local head, raw = HEADS[i] or nil, RAWS[i] or nil
  if not head and value then
    local aside = aside_problem()
    if aside then return 'error', 'CORRUPT ' .. aside end
    -- A lease record no worker could commit: set aside, never silently lost.
    drop_later(token)
    local nl = string.find(value, '\n', 1, true)
    set_aside(nl and string.sub(value, nl + 1) or value, run_of(value),
      'lease ' .. token .. ' in ' .. K.lease_items .. ' is not a lease record')
    return 'lease-lost', ''
  end
  if not head or head.runId ~= run_id then return 'lease-lost', '' end
  local retry_raw = kind == 'retry' and bump_attempt(raw, head.attempt)
  if kind == 'retry' and not retry_raw then
    return 'error', 'leased item ' .. head.id .. ' is not in the canonical item encoding'
  end
  local run_key = run_hash_key(run_id)
  local names = COMMIT_FIELDS
  if head.attempt > 1 then
    names = { 'status', 'held', 'idempotencyKey', 'openJoins', 'aux', 'eventSeq', 'pending', 'outputs', 'i:' .. head.id }
  end
  local run, problem = read_run(run_id, names)
  if not problem and run[1] and not TERMINAL[run[1]] then
    problem = run_keys_problem(run_id, keys_written(kind, hold, run[1]))
    if not problem and kind == 'success' then problem = arrivals_problem(run_id) end
  end
  if not problem and STAGED[#STAGED] == token and run[1] and not TERMINAL[run[1]] then
    local _, follow_ups = success_counts()
    local key = staged_key(token)
    problem = type_problem(key, 'staged')
    local staged = not problem and redis.call('LLEN', key)
    if staged and staged ~= -follow_ups then
      -- Expired or cut short: nothing is written, the step is retried after its lease expires.
      return 'error', 'follow-ups staged under lease ' .. token .. ': ' .. int(staged) .. ' of ' .. int(-follow_ups)
    end
  end
  local late = not problem and run[1] and not TERMINAL[run[1]] and late_keys_problem(kind, hold, run, dead_letter_it)
  if late then return 'error', 'CORRUPT ' .. late end
  if problem then
    local aside = aside_problem()
    if aside then return 'error', 'CORRUPT ' .. aside end
    -- This run's data cannot be trusted: the step is set aside, the rest of the batch commits.
    drop_later(token)
    set_aside(raw, run_id, problem)
    return 'corrupt', problem
  end
  local status = run[1]
  -- Writes (the lease's drop is among the batch's last).
  drop_later(token)
  if not status then return 'run-finished', 'cancelled' end
  if TERMINAL[status] then
    redis.call('HSET', run_key, 'i:' .. head.id, item_value(run[9], 'cancelled', head.attempt_s, head.node))
    return 'run-finished', status
  end
  LIVE[run_id] = true
  node_metric(head.node, 'durationUsTotal', duration_us)
  if kind == 'success' then return 'committed', success(token, head, raw, run_id, run, run[9], duration_s, hold) end

  if kind == 'retry' then
    -- The retry waits in Redis, not in this worker's memory: it survives the worker.
    redis.call('ZADD', K.delayed, int(NOW + delay_ms), retry_raw)
    wake()
    node_metric(head.node, outcome_counter(kind))
    redis.call('HSET', run_key, 'i:' .. head.id,
      item_value(run[9], 'retrying', head.attempt + 1, head.node, err, duration_s))
    record_error(run_id, head.id, head.node, head.attempt, err, 'retry')
    return 'committed', status
  end
  node_metric(head.node, outcome_counter(kind))
  if kind == 'fallback' then
    for _ = 1, num(take()) do
      local item_raw, id, node, attempt = take(), take(), take(), num(take())
      push_item(run_id, status, item_raw, id, node, attempt, true)
    end
    redis.call('HSET', run_key, 'i:' .. head.id, item_value(run[9], 'failed', head.attempt_s, head.node, err, duration_s))
    record_error(run_id, head.id, head.node, head.attempt, err, 'fallback')
    redis.call('HINCRBY', run_key, 'pending', '-1')
  elseif dead_letter_it then
    record_error(run_id, head.id, head.node, head.attempt, err, 'dead')
    redis.call('HSET', run_key, 'i:' .. head.id, item_value(run[9], 'failed', head.attempt_s, head.node, nil, duration_s))
    dead_letter(run_id, raw, head.id, head.node, head.attempt, err)
  else
    record_error(run_id, head.id, head.node, head.attempt, err, 'fail')
    redis.call('HSET', run_key, 'i:' .. head.id, item_value(run[9], 'failed', head.attempt_s, head.node, err, duration_s))
    redis.call('HINCRBY', run_key, 'pending', '-1')
    finish(run_id, 'failed', err)
  end
  return 'committed', settle(run_id)
end

--@body
-- Every lease of the batch is read in one HMGET up front and dropped in one ZREM and one HDEL
-- at the end; a token met twice in one batch counts as gone the second time. The reads before
-- the first write also check the types of `lease-items` and `leases` (so begin() skips their
-- TYPEs, `--@read-first`): the claim's lease deadlines (claim.lua lease_scores).
ARGS, cursor, counts_at = ARGV, 5, nil
local WORKFLOW = ARGV[3]
local N = num(ARGV[4])
local TOKENS = {}
LEASES, HEADS, RAWS, DROPPED, GONE, STAGED = {}, {}, {}, {}, {}, {}
local CLAIM_TOKENS, CLAIM_WORKERS, CLAIM_SCORES = {}, {}, nil
do
  local at = 5
  for i = 1, N do
    TOKENS[i] = ARGV[at + 1]
    local argc = ARGV[at]
    at = at + 1 + (NUM_OF[argc] or num(argc))
  end
  for i = at + 1, #ARGV, 2 do
    CLAIM_TOKENS[#CLAIM_TOKENS + 1], CLAIM_WORKERS[#CLAIM_WORKERS + 1] = ARGV[i], ARGV[i + 1]
  end
  -- A lease-items of the wrong type fails its HMGET before any write; a batch of none checks it.
  local problem
  if N > 0 then LEASES = redis.call('HMGET', K.lease_items, unpack(TOKENS))
  else problem = type_problem(K.lease_items, 'lease_items') end
  if not problem and #CLAIM_TOKENS > 0 then CLAIM_SCORES = lease_scores(CLAIM_TOKENS)
  elseif not problem and N > 0 then problem = type_problem(K.leases, 'leases') end
  if problem then return redis.error_reply('CORRUPT ' .. problem) end
  for i = 1, N do
    local head, raw = leased_head(TOKENS[i], LEASES[i])
    HEADS[i], RAWS[i] = head or false, raw or false
  end
end

local reply = {}
for i = 1, N do
  local argc = take()
  local stop = cursor + (NUM_OF[argc] or num(argc))
  local status, run_status = apply_one(i)
  reply[#reply + 1], reply[#reply + 2] = status, run_status
  -- A refused commit leaves its lists unread.
  cursor = stop
end
if #DROPPED > 0 then
  redis.call('ZREM', K.leases, unpack(DROPPED))
  redis.call('HDEL', K.lease_items, unpack(DROPPED))
  for i = 1, #DROPPED do forget_lease(DROPPED[i]) end
end
for i = 1, #STAGED do redis.call('UNLINK', staged_key(STAGED[i])) end
local lease_ms = num(take())
if #CLAIM_TOKENS == 0 then
  reply[#reply + 1], reply[#reply + 2] = 'none', ''
  return reply
end
local at = #reply + 1
reply[at], reply[at + 1] = '', ''
local kind, due = claim_batch(WORKFLOW, lease_ms, CLAIM_TOKENS, CLAIM_WORKERS, reply, true, CLAIM_SCORES)
reply[at], reply[at + 1] = kind, due or ''
return reply
