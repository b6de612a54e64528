-- Claiming: lease up to K runnable items in one call. Needs `base`, `items`, `runs`.
--
-- Invariant: an item is always somewhere in Redis: it moves from `ready` to a lease (deadline in
-- `leases`, worker and item in `lease-items`) in one call, so a worker that dies at any instant
-- loses nothing. Each item of a batch gets its own lease token, so it is renewed, committed,
-- released and reclaimed on its own. Due retries move from `delayed` to `ready` first, so
-- whichever worker claims next advances the clock; no scheduler process is needed.
-- Items of finished (or expired) runs are dropped, items of paused runs parked on the run, and
-- entries no worker could run are dead-lettered with an InvalidItem error instead of failing
-- every claim after them.

local MAX_SKIPPED = 100
-- The run hash fields a claim reads.
local CLAIM_FIELDS = { 'status', 'eventSeq' }

-- An entry we cannot parse keeps its bytes (as the input of a placeholder item) for inspection.
-- When its bytes still name its run, the dead letter names it and the run fails (it would
-- otherwise wait for the item forever); the run's error list is not written (its type is not
-- checked here), the workflow's is.
local function dead_letter_malformed(workflow, raw, problem)
  local id = 'invalid-' .. string.sub(redis.sha1hex(raw), 1, 16)
  local run_id = run_of(raw) or ''
  local excerpt = string.sub(raw, 1, 200)
  local err = error_json('InvalidItem', 'malformed work item in the ready list (' .. problem .. '): ' .. excerpt)
  local item = '{"attempt":1,"maxAttempts":1,"id":' .. jstr(id) .. ',"runId":' .. jstr(run_id) .. ',"workflow":'
    .. jstr(workflow) .. ',"version":"","node":"","enqueuedAt":' .. NOW_S .. ',"frames":[],"input":' .. jstr(raw) .. '}'
  redis.call('RPUSH', K.dead, '{"at":' .. NOW_S .. ',"error":' .. err .. ',"item":' .. item .. '}')
  metric('deadLettered')
  local record = '{"runId":' .. jstr(run_id) .. ',"itemId":' .. jstr(id) .. ',"node":"","attempt":1,"action":"dead","at":'
    .. NOW_S .. ',"error":' .. err .. '}'
  redis.call('RPUSH', K.errors, record)
  redis.call('LTRIM', K.errors, -MAX_ERRORS, -1)
  fail_run_of_entry(run_id, err)
end

-- The run's last event sequence for a claim. `eventSeq` in the run hash says whether the run has
-- events at all (most runs have none: no command); the log's length is the truth when it has,
-- so a cache ahead of a log that lost its tail (a restart that lost writes) is never trusted.
local function event_seq(run_id, run)
  local seq = run[2] or 0
  if (NUM_OF[seq] or num(seq)) == 0 then return 0 end
  return redis.call('LLEN', rkey('events', run_id))
end

-- Claims for `tokens` (lease tokens, one per item wanted; `workers[i]` is the worker id of
-- tokens[i]) and appends to `out`, per claimed item: token, item JSON, deadline, runEventSeq
-- (the run's last event sequence, so a worker with a current cache reads nothing). Returns
-- 'items' (at least one claimed) | 'empty', msUntilNextRetryDue or -1 | 'again' (many dead
-- entries were skipped: call again without blocking).
--
-- `late`: called after the caller's writes (commit's claim of the next items), with `ready`,
-- `leases`, `lease-items`, `wake` and `metrics` checked and the rest not: the first read of
-- `delayed` is a pcall (a wrong type claims nothing), and an entry to set aside whose dead-letter
-- keys are of the wrong type goes back to the head of `ready` with the rest of its batch (the
-- worker's next claim reports the key).
local function put_back(raws, from)
  local back = {}
  for j = #raws, from, -1 do back[#back + 1] = raws[j] end
  redis.call('LPUSH', K.ready, unpack(back))
end

-- A token that holds a lease already is a claim re-sent after a lost reply (ioredis re-sends
-- unfulfilled commands when it reconnects after a Redis restart): it gets the lease the first
-- send took. Claiming again would take a second item and lose the first. The tokens' lease
-- deadlines, read before the caller's first write (the read checks the type of `leases`).
local function lease_scores(tokens)
  return redis.call('ZMSCORE', K.leases, unpack(tokens))
end

-- `scores`: lease_scores(tokens), when the caller read them already.
local function claim_batch(workflow, lease_ms, tokens, workers, out, late, scores)
  local deadline = int(NOW + lease_ms)
  scores = scores or lease_scores(tokens)
  local free, free_workers, claimed = {}, {}, 0
  for i = 1, #tokens do
    local token = tokens[i]
    local head, raw = nil, nil
    if scores[i] then head, raw = read_lease(token) end
    local resent = head and read_run(head.runId, CLAIM_FIELDS)
    if resent then
      local seq = event_seq(head.runId, resent)
      out[#out + 1], out[#out + 2], out[#out + 3], out[#out + 4] = token, raw, int(num(scores[i])), seq
      claimed = claimed + 1
    else
      free[#free + 1], free_workers[#free_workers + 1] = token, workers[i]
    end
  end
  if #free == 0 then return 'items' end

  local due = (late and redis.pcall or redis.call)('ZRANGEBYSCORE', K.delayed, '-inf', NOW_S, 'LIMIT', '0', '1000')
  if due['err'] then return 'empty', -1 end
  if #due > 0 then
    redis.call('RPUSH', K.ready, unpack(due))
    redis.call('ZREM', K.delayed, unpack(due))
  end

  local runs = {} -- run id -> {status, eventSeq} as read (and as this call changes it)
  local lease_args, deadline_args = {}, {}
  local taken, skipped, exhausted = 0, 0, false
  while taken < #free and skipped < MAX_SKIPPED do
    local wanted = #free - taken
    local raws = redis.call('LPOP', K.ready, int(wanted))
    if not raws then
      exhausted = true
      break
    end
    -- Fewer than asked: the list is empty now.
    if #raws < wanted then exhausted = true end
    for at = 1, #raws do
      local raw = raws[at]
      local item, problem = parse_item(raw, workflow)
      local run = item and runs[item.runId]
      if item and not run then
        local read_problem
        run, read_problem = read_run(item.runId, CLAIM_FIELDS)
        local seq = run[2] or 0
        if not read_problem and (NUM_OF[seq] or num(seq)) > 0 then
          read_problem = run_keys_problem(item.runId, { 'events' })
        end
        if not read_problem and run[1] == 'paused' then read_problem = run_keys_problem(item.runId, { 'parked' }) end
        run = read_problem and { 'corrupt', read_problem } or run
        runs[item.runId] = run
      end
      if (not item or run[1] == 'corrupt') and aside_problem() then
        put_back(raws, at)
        exhausted = true
        break
      elseif not item then
        skipped = skipped + 1
        dead_letter_malformed(workflow, raw, problem)
      else
        local run_id = item.runId
        local status = run[1]
        if status == 'corrupt' then
          skipped = skipped + 1
          set_aside(raw, run_id, run[2])
        elseif not status then
          skipped = skipped + 1 -- the run expired or never existed: nothing to record the item on
        elseif TERMINAL[status] then
          skipped = skipped + 1
          set_item(run_id, item.id, item.node, item.attempt, 'cancelled')
        elseif status == 'paused' then
          skipped = skipped + 1
          park_item(run_id, raw, item.id, item.node, item.attempt)
        else
          taken = taken + 1
          local token = free[taken]
          LIVE[run_id] = true
          local value = lease_value(free_workers[taken], raw)
          lease_args[#lease_args + 1], lease_args[#lease_args + 2] = token, value
          remember_lease(token, value, item, raw)
          deadline_args[#deadline_args + 1], deadline_args[#deadline_args + 2] = deadline, token
          -- A first attempt has no record to read (nothing holds a duration or error yet).
          local old = item.attempt > 1 and read_item(run_id, item.id) or nil
          local record = item_value(old, 'running', item.attempt_s, item.node)
          if status == 'queued' then
            redis.call('HSET', run_hash_key(run_id), 'i:' .. item.id, record, 'status', 'running', 'startedAt', NOW_S)
            run[1] = 'running'
          else
            redis.call('HSET', run_hash_key(run_id), 'i:' .. item.id, record)
          end
          out[#out + 1], out[#out + 2], out[#out + 3], out[#out + 4] = token, raw, deadline, event_seq(run_id, run)
        end
      end
    end
    if exhausted then break end
  end
  if taken > 0 then
    redis.call('ZADD', K.leases, unpack(deadline_args))
    redis.call('HSET', K.lease_items, unpack(lease_args))
    -- One marker wakes one blocked worker; pass it on while work remains (unless the marker
    -- is still there, which no blocked claim took: nothing to pass on, and no LLEN).
    if not exhausted and not RUNG and redis.call('LLEN', K.ready) > 0 then wake() end
  end
  if claimed + taken > 0 then return 'items' end
  if not exhausted then return 'again' end
  local next_due = redis.call('ZRANGE', K.delayed, 0, 0, 'WITHSCORES')
  if #next_due == 0 then return 'empty', -1 end
  return 'empty', math.max(0, num(next_due[2]) - NOW)
end
