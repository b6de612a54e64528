-- Runs: errors, dead letters, finishing, expiry, quiescence. Needs `base` and `items`.
--
-- A run is one hash (fields, outputs `o:<n>`, item records `i:<id>`) plus the keys only some
-- runs need: events (a LIST, once an event was appended: `eventSeq` > 0), joins/open-joins
-- (while a join is open: `openJoins` > 0), parked/checkpoint/errors (`aux`), held (deleted when
-- the run finishes). So finishing a plain run expires one key. There is no index per status:
-- `runs` (runId -> createdAt) lists them, and the status is a field of the hash.

-- ---- corruption: checked before writing, set aside when it is one run's or one entry's ----

-- Integer fields of a run's hash (absent counts as 0).
local INT_FIELDS = { pending = true, held = true, openJoins = true, eventSeq = true, outputs = true }

-- The run's hash fields `names` (HMGET), or nil and why they cannot be trusted: the hash is of
-- another type, its status is unknown or a counter is not an integer. Never raises.
local function read_run(run_id, names)
  local key = run_hash_key(run_id)
  local values = redis.pcall('HMGET', key, unpack(names))
  if values['err'] then return nil, 'key ' .. key .. ': ' .. values['err'] end
  for i = 1, #names do
    local v = values[i]
    -- An absent field is fine (no status: no run; no counter: 0).
    if v then
      local name = names[i]
      if name == 'status' then
        if not STATUSES[v] then return nil, 'field status of ' .. key .. ' is ' .. jstr(string.sub(v, 1, 40)) end
      elseif INT_FIELDS[name] and NUM_OF[v] == nil and not is_int(v) then
        return nil, 'field ' .. name .. ' of ' .. key .. ' is not an integer'
      end
    end
  end
  return values, nil
end

-- The first of the run's keys `kinds` (see KEY_TYPES; 'run-errors' is its error list) that is of
-- another type, or nil.
local function run_keys_problem(run_id, kinds)
  for i = 1, #kinds do
    local kind = kinds[i]
    local problem = type_problem(rkey(kind == 'run-errors' and 'errors' or kind, run_id), kind)
    if problem then return problem end
  end
  return nil
end

-- A whole-run check for the functions that act on one run (pause, resume, cancel, checkpoint):
-- nil, or why the function must refuse before writing.
local function check_run(run_id, kinds)
  local problem = type_problem(run_hash_key(run_id), 'run')
  if problem then return problem end
  local _, bad = read_run(run_id, { 'status', 'pending', 'held', 'openJoins', 'eventSeq', 'outputs' })
  return bad or run_keys_problem(run_id, kinds)
end

-- The run an unreadable entry belongs to, when its bytes still say so.
local function run_of(raw)
  return string.match(raw or '', '"runId":"([^"\\]+)"')
end

-- Why this call cannot set an entry aside (its dead-letter, error or expiry key is of the wrong
-- type), or nil. No command where begin() checked them.
local function aside_problem()
  return key_problem('dead') or key_problem('errors') or key_problem('expiring')
end

-- Fails the run of an entry set aside (`run_id` '' when unknown), when its hash can still take a
-- status: never raises (the hash's type is checked), so it may follow other writes.
local function fail_run_of_entry(run_id, err)
  if run_id == '' then return end
  local key = run_hash_key(run_id)
  if redis.call('TYPE', key)['ok'] ~= 'hash' then return end
  local status = redis.call('HGET', key, 'status')
  if status and not TERMINAL[status] then
    redis.call('HSET', key, 'status', 'failed', 'finishedAt', int(NOW), 'error', err)
    redis.call('PEXPIRE', key, RETENTION_MS)
    if K.expiring then redis.call('ZADD', K.expiring, NOW + RETENTION_MS, run_id) end
    metric('runsFailed')
  end
end

-- Sets one corrupt entry aside: dead-letters its bytes with a CorruptEntry error that names the
-- problem and its run (when known), counts it, and fails that run when its hash can still take a
-- status. Writes only workflow keys begin() checked, and the run's hash only when it is a hash.
local function set_aside(raw, run_id, problem, hash_ok)
  run_id = run_id or ''
  local err = error_json('CorruptEntry', problem)
  local id = 'corrupt-' .. string.sub(redis.sha1hex(raw or ''), 1, 16)
  local parsed = raw and parse_item(raw, nil)
  local item = parsed and raw or ('{"attempt":1,"maxAttempts":1,"id":' .. jstr(id) .. ',"runId":' .. jstr(run_id)
    .. ',"workflow":"","version":"","node":"","enqueuedAt":' .. int(NOW) .. ',"frames":[],"input":'
    .. jstr(string.sub(raw or '', 1, 1000)) .. '}')
  redis.call('RPUSH', K.dead, '{"at":' .. int(NOW) .. ',"error":' .. err .. ',"item":' .. item .. '}')
  local record = '{"runId":' .. jstr(run_id) .. ',"itemId":' .. jstr(parsed and parsed.id or id)
    .. ',"node":' .. jstr(parsed and parsed.node or '') .. ',"attempt":' .. int(parsed and parsed.attempt or 1)
    .. ',"action":"dead","at":' .. int(NOW) .. ',"error":' .. err .. '}'
  redis.call('RPUSH', K.errors, record)
  redis.call('LTRIM', K.errors, -MAX_ERRORS, -1)
  metric('deadLettered')
  metric('corruptEntries')
  if hash_ok ~= false then fail_run_of_entry(run_id, err) end
end

-- The fields RunInfo needs; `outputs` (their count) is the 13th.
local RUN_FIELDS = { 'runId', 'workflow', 'version', 'status', 'input', 'createdAt', 'startedAt', 'finishedAt',
  'error', 'idempotencyKey', 'pending', 'held', 'outputs' }

-- The run for RunInfo, as a flat field/value list: its fields and outputs, not its item records,
-- so reading a run costs the same at 10 items and at 10,000. Empty for a run that expired.
local function snapshot(run_id)
  local key = run_hash_key(run_id)
  local values = redis.call('HMGET', key, unpack(RUN_FIELDS))
  local flat = {}
  for i, field in ipairs(RUN_FIELDS) do
    if values[i] then flat[#flat + 1], flat[#flat + 2] = field, values[i] end
  end
  -- A counter that is not an integer reads as no outputs; one past the hash's size is capped by
  -- it (never a loop over a garbage count). Read in chunks: unpack() of a long list overflows.
  local count = is_int(values[13]) and num(values[13] or 0) or 0
  if count > CHUNK then count = math.min(count, redis.call('HLEN', key)) end
  for first = 1, count, CHUNK do
    local names = {}
    for n = first, math.min(first + CHUNK - 1, count) do names[#names + 1] = 'o:' .. n end
    local outputs = redis.call('HMGET', key, unpack(names))
    for j = 1, #names do flat[#flat + 1], flat[#flat + 2] = names[j], outputs[j] end
  end
  return flat
end

-- ErrorRecord, in the workflow's list and (for a known run) the run's own list.
local function record_error(run_id, item_id, node, attempt, err_json, action)
  local record = '{"runId":' .. jstr(run_id) .. ',"itemId":' .. jstr(item_id) .. ',"node":' .. jstr(node)
    .. ',"attempt":' .. int(attempt) .. ',"action":"' .. action .. '","at":' .. NOW_S
    .. ',"error":' .. err_json .. '}'
  redis.call('RPUSH', K.errors, record)
  redis.call('LTRIM', K.errors, -MAX_ERRORS, -1)
  if run_id ~= '' then
    local key = rkey('errors', run_id)
    -- Tells finish the run has an error list (never creates a hash for a run that expired).
    if LIVE[run_id] or redis.call('EXISTS', run_hash_key(run_id)) == 1 then
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
-- has; it joins `expiring` with the call's last writes (end_call). `run`: its FINISH_FIELDS.
local function expire_run(run_id, run)
  redis.call('PEXPIRE', run_hash_key(run_id), RETENTION_S)
  local events, joins = run[6] or 0, run[4] or 0
  if (NUM_OF[events] or num(events)) > 0 then redis.call('PEXPIRE', rkey('events', run_id), RETENTION_S) end
  if (NUM_OF[joins] or num(joins)) > 0 then
    redis.call('PEXPIRE', rkey('joins', run_id), RETENTION_S)
    redis.call('PEXPIRE', rkey('open-joins', run_id), RETENTION_S)
  end
  if run[5] then
    for _, kind in ipairs({ 'parked', 'checkpoint', 'errors' }) do
      redis.call('PEXPIRE', rkey(kind, run_id), RETENTION_S)
    end
  end
  if run[3] then redis.call('PEXPIRE', BASE .. ':idem:' .. run[3], RETENTION_S) end
  EXPIRED[#EXPIRED + 1], EXPIRED[#EXPIRED + 2] = EXPIRE_AT_S, run_id
end

local RUN_METRIC = { completed = 'runsCompleted', failed = 'runsFailed', cancelled = 'runsCancelled' }

-- Ends a live run (a finished run never changes status again) and starts its retention clock.
-- `run`: the HMGET of FINISH_FIELDS when the caller has just read it.
local function finish(run_id, status, err_json, run)
  local run_key = run_hash_key(run_id)
  run = run or redis.call('HMGET', run_key, unpack(FINISH_FIELDS))
  local old = run[1]
  if not old or TERMINAL[old] then return end
  -- Its held and parked items are no longer parked in the workflow's count (they end with it).
  local parked = num(run[2] or 0) or 0
  if run[5] then
    -- pcall: callers check the parked key's type only on their paths that write it, and this
    -- read may follow their first write; a corrupt key is reported by the call that uses it.
    local len = redis.pcall('LLEN', rkey('parked', run_id))
    if type(len) == 'number' then parked = parked + len end
  end
  if parked ~= 0 then metric('parkedItems', -parked) end
  if err_json then
    redis.call('HSET', run_key, 'status', status, 'finishedAt', NOW_S, 'held', '0', 'error', err_json)
  else
    redis.call('HSET', run_key, 'status', status, 'finishedAt', NOW_S, 'held', '0')
  end
  LIVE[run_id] = nil
  -- Held items end with the run.
  if num(run[2] or 0) ~= 0 then
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
  redis.call('RPUSH', K.dead, '{"at":' .. NOW_S .. ',"error":' .. err_json .. ',"item":' .. raw .. '}')
  metric('deadLettered')
  set_item(run_id, id, node, attempt, 'dead', err_json)
  redis.call('HINCRBY', run_hash_key(run_id), 'pending', '-1')
  finish(run_id, 'failed', err_json)
end

-- The JoinIncomplete error of a quiescent run whose join still waits for branches.
local function join_incomplete(run_id)
  local open = redis.call('SMEMBERS', rkey('open-joins', run_id))
  table.sort(open)
  local join = open[1]
  if not join then return error_json('JoinIncomplete', 'a join waits for branches and nothing else is pending') end
  local slot = redis.call('HMGET', rkey('joins', run_id), join .. '|node', join .. '|got', join .. '|count')
  local message = "join '" .. tostring(slot[1]) .. "' got " .. tostring(slot[2]) .. ' of ' .. tostring(slot[3])
    .. ' branches (' .. join .. ') and nothing else is pending'
  return error_json('JoinIncomplete', message, slot[1] or nil)
end

-- Quiescence: nothing pending or held. Complete, unless a join still waits for branches.
-- Returns the run's status afterwards.
local function settle(run_id)
  local state = redis.call('HMGET', run_hash_key(run_id), unpack(FINISH_FIELDS))
  if not state[1] or TERMINAL[state[1]] then return state[1] or 'cancelled' end
  if num(state[7]) > 0 or num(state[2]) > 0 then return state[1] end
  if num(state[4]) > 0 then
    finish(run_id, 'failed', join_incomplete(run_id), state)
    return 'failed'
  end
  finish(run_id, 'completed', nil, state)
  return 'completed'
end
