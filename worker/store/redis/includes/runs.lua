-- Runs: errors, dead letters, finishing, expiry, quiescence. Needs `base` and `items`.
--
-- A run is one hash (fields, outputs `o:<n>`, item records `i:<id>`) plus the keys only some
-- runs need: events (a LIST, once an event was appended: `eventSeq` > 0), joins/open-joins
-- (while a join is open: `openJoins` > 0), parked/checkpoint/errors (`aux`), held (deleted when
-- the run finishes). So finishing a plain run expires one key. There is no index per status:
-- `runs` (runId -> createdAt) lists them, and the status is a field of the hash.

-- The run's snapshot for RunInfo: its whole hash (outputs are fields of it).
local function snapshot(run_id)
  return redis.call('HGETALL', rkey('run', run_id))
end

-- ErrorRecord, in the workflow's list and (for a known run) the run's own list.
local function record_error(run_id, item_id, node, attempt, err_json, action)
  local record = '{"runId":' .. jstr(run_id) .. ',"itemId":' .. jstr(item_id) .. ',"node":' .. jstr(node)
    .. ',"attempt":' .. int(attempt) .. ',"action":"' .. action .. '","at":' .. int(NOW)
    .. ',"error":' .. err_json .. '}'
  redis.call('RPUSH', K.errors, record)
  redis.call('LTRIM', K.errors, -MAX_ERRORS, -1)
  if run_id ~= '' then
    local key = rkey('errors', run_id)
    -- Tells finish the run has an error list (never creates a hash for a run that expired).
    if LIVE[run_id] or redis.call('EXISTS', rkey('run', run_id)) == 1 then
      mark_aux(run_id)
    end
    redis.call('RPUSH', key, record)
    redis.call('LTRIM', key, -MAX_ERRORS, -1)
    follow_ttl(run_id, key)
  end
end

-- The run hash fields finishing needs, in this order (`pending` last, for settle).
local FINISH_FIELDS = { 'status', 'held', 'idempotencyKey', 'openJoins', 'aux', 'eventSeq', 'pending' }

-- Starts the retention clock of a finished run: one PEXPIRE for its hash, one per other key it
-- has. `run`: its FINISH_FIELDS.
local function expire_run(run_id, run)
  redis.call('PEXPIRE', rkey('run', run_id), RETENTION_MS)
  if tonumber(run[6] or 0) > 0 then redis.call('PEXPIRE', rkey('events', run_id), RETENTION_MS) end
  if tonumber(run[4] or 0) > 0 then
    redis.call('PEXPIRE', rkey('joins', run_id), RETENTION_MS)
    redis.call('PEXPIRE', rkey('open-joins', run_id), RETENTION_MS)
  end
  if run[5] then
    for _, kind in ipairs({ 'parked', 'checkpoint', 'errors' }) do
      redis.call('PEXPIRE', rkey(kind, run_id), RETENTION_MS)
    end
  end
  if run[3] then redis.call('PEXPIRE', BASE .. ':idem:' .. run[3], RETENTION_MS) end
  redis.call('ZADD', K.expiring, NOW + RETENTION_MS, run_id)
end

local RUN_METRIC = { completed = 'runsCompleted', failed = 'runsFailed', cancelled = 'runsCancelled' }

-- Ends a live run (a finished run never changes status again) and starts its retention clock.
-- `run`: the HMGET of FINISH_FIELDS when the caller has just read it.
local function finish(run_id, status, err_json, run)
  local run_key = rkey('run', run_id)
  run = run or redis.call('HMGET', run_key, unpack(FINISH_FIELDS))
  local old = run[1]
  if not old or TERMINAL[old] then return end
  if err_json then
    redis.call('HSET', run_key, 'status', status, 'finishedAt', int(NOW), 'held', 0, 'error', err_json)
  else
    redis.call('HSET', run_key, 'status', status, 'finishedAt', int(NOW), 'held', 0)
  end
  LIVE[run_id] = nil
  -- Held items end with the run.
  if tonumber(run[2] or 0) ~= 0 then
    local held = redis.call('HGETALL', rkey('held', run_id))
    for i = 1, #held, 2 do
      local item = parse_item(held[i + 1], nil)
      if item then set_item(run_id, item.id, item.node, item.attempt, 'cancelled') end
    end
    redis.call('DEL', rkey('held', run_id))
  end
  metric(RUN_METRIC[status])
  expire_run(run_id, run)
end

-- A dead item fails its run: nothing else of the run can be trusted to complete.
local function dead_letter(run_id, raw, id, node, attempt, err_json)
  redis.call('RPUSH', K.dead, '{"at":' .. int(NOW) .. ',"error":' .. err_json .. ',"item":' .. raw .. '}')
  metric('deadLettered')
  set_item(run_id, id, node, attempt, 'dead', err_json)
  redis.call('HINCRBY', rkey('run', run_id), 'pending', -1)
  finish(run_id, 'failed', err_json)
end

-- The JoinIncomplete error of a quiescent run whose join still waits for branches.
local function join_incomplete(run_id)
  local open = redis.call('SMEMBERS', rkey('open-joins', run_id))
  table.sort(open)
  local join = open[1]
  local slot = redis.call('HMGET', rkey('joins', run_id), join .. '|node', join .. '|got', join .. '|count')
  local message = "join '" .. slot[1] .. "' got " .. slot[2] .. ' of ' .. slot[3] .. ' branches (' .. join
    .. ') and nothing else is pending'
  return error_json('JoinIncomplete', message, slot[1])
end

-- Quiescence: nothing pending or held. Complete, unless a join still waits for branches.
-- Returns the run's status afterwards.
local function settle(run_id)
  local state = redis.call('HMGET', rkey('run', run_id), unpack(FINISH_FIELDS))
  if not state[1] or TERMINAL[state[1]] then return state[1] or 'cancelled' end
  if tonumber(state[7]) > 0 or tonumber(state[2]) > 0 then return state[1] end
  if tonumber(state[4]) > 0 then
    finish(run_id, 'failed', join_incomplete(run_id), state)
    return 'failed'
  end
  finish(run_id, 'completed', nil, state)
  return 'completed'
end
