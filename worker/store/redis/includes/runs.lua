-- Runs: status index, errors, dead letters, finishing, quiescence. Needs `base` and `items`.

-- Moves a run between status indexes ({base}:runs:<status>), which listRuns reads. `created`
-- (the run's createdAt) when the caller read it already; more field/value pairs of the run hash
-- may follow, written in the same HSET.
local function set_status(run_id, old, new, created, ...)
  local run_key = rkey('run', run_id)
  created = created or redis.call('HGET', run_key, 'createdAt')
  redis.call('HSET', run_key, 'status', new, ...)
  redis.call('ZREM', BASE .. ':runs:' .. old, run_id)
  redis.call('ZADD', BASE .. ':runs:' .. new, created, run_id)
end

-- The run as RunInfo needs it: HGETALL of the run hash plus its outputs.
local function snapshot(run_id)
  return { redis.call('HGETALL', rkey('run', run_id)), redis.call('LRANGE', rkey('outputs', run_id), 0, -1) }
end

-- ErrorRecord, in the workflow's list and (for a known run) the run's own list.
local function record_error(run_id, item_id, node, attempt, err_json, action)
  local record = '{"runId":' .. jstr(run_id) .. ',"itemId":' .. jstr(item_id) .. ',"node":' .. jstr(node)
    .. ',"attempt":' .. int(attempt) .. ',"action":"' .. action .. '","at":' .. int(NOW)
    .. ',"error":' .. err_json .. '}'
  redis.call('RPUSH', K_ERRORS, record)
  redis.call('LTRIM', K_ERRORS, -MAX_ERRORS, -1)
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

-- The run hash fields finish needs, in this order (`pending` last, for settle).
local FINISH_FIELDS = { 'status', 'createdAt', 'held', 'idempotencyKey', 'openJoins', 'keyFlags', 'aux', 'pending' }

-- Ends a live run (a finished run never changes status again) and starts its retention clock.
-- `run`: the HMGET of FINISH_FIELDS when the caller has just read it.
local function finish(run_id, status, err_json, run)
  local run_key = rkey('run', run_id)
  run = run or redis.call('HMGET', run_key, unpack(FINISH_FIELDS))
  local old = run[1]
  if not old or TERMINAL[old] then return end
  if err_json then
    set_status(run_id, old, status, run[2], 'finishedAt', int(NOW), 'held', 0, 'error', err_json)
  else
    set_status(run_id, old, status, run[2], 'finishedAt', int(NOW), 'held', 0)
  end
  LIVE[run_id] = nil
  -- Held items end with the run (the count is kept with the hash: no hash when it is 0).
  if tonumber(run[3]) ~= 0 then
    local held = redis.call('HGETALL', rkey('held', run_id))
    for i = 1, #held, 2 do
      local item = cjson.decode(held[i + 1])
      set_item(run_id, item.id, item.node, item.attempt, 'cancelled')
    end
    redis.call('DEL', rkey('held', run_id))
  end
  if status == 'completed' then metric('runsCompleted')
  elseif status == 'failed' then metric('runsFailed')
  else metric('runsCancelled') end
  -- Expire only the keys the run may have: join keys exist only while a join is open, the rare
  -- keys (parked items, checkpoint, errors) once one was written (`aux`). Runs created before
  -- these fields (no `openJoins`, no `keyFlags`) expire every kind.
  local no_joins = run[5] and tonumber(run[5]) == 0
  local no_aux = run[6] and not run[7]
  for _, kind in ipairs(RUN_KINDS) do
    local absent = (no_joins and JOIN_KINDS[kind]) or (no_aux and AUX_KINDS[kind])
    if not absent then redis.call('PEXPIRE', rkey(kind, run_id), RETENTION_MS) end
  end
  if run[4] then redis.call('PEXPIRE', BASE .. ':idem:' .. run[4], RETENTION_MS) end
  redis.call('ZADD', K_EXPIRING, NOW + RETENTION_MS, run_id)
end

-- A dead item fails its run: nothing else of the run can be trusted to complete.
local function dead_letter(run_id, raw, id, node, attempt, err_json)
  redis.call('RPUSH', K_DEAD, '{"at":' .. int(NOW) .. ',"error":' .. err_json .. ',"item":' .. raw .. '}')
  metric('deadLettered')
  set_item(run_id, id, node, attempt, 'dead', err_json)
  redis.call('HINCRBY', rkey('run', run_id), 'pending', -1)
  finish(run_id, 'failed', err_json)
end

-- Quiescence: nothing pending or held. Complete, unless a join still waits for branches.
-- Returns the run's status afterwards.
local function settle(run_id)
  local state = redis.call('HMGET', rkey('run', run_id), unpack(FINISH_FIELDS))
  if not state[1] or TERMINAL[state[1]] then return state[1] or 'cancelled' end
  if tonumber(state[8]) > 0 or tonumber(state[3]) > 0 then return state[1] end
  -- The openJoins counter spares the SMEMBERS when no join is open (absent: an older run).
  local open = (state[5] and tonumber(state[5]) == 0) and {} or redis.call('SMEMBERS', rkey('open-joins', run_id))
  if #open > 0 then
    table.sort(open)
    local join = open[1]
    local slot = redis.call('HMGET', rkey('joins', run_id), join .. '|node', join .. '|got', join .. '|count')
    local message = "join '" .. slot[1] .. "' got " .. slot[2] .. ' of ' .. slot[3] .. ' branches (' .. join
      .. ') and nothing else is pending'
    finish(run_id, 'failed', error_json('JoinIncomplete', message, slot[1]), state)
    return 'failed'
  end
  finish(run_id, 'completed', nil, state)
  return 'completed'
end
