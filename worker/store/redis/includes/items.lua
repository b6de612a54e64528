-- Work items: validation of queue entries, item state, enqueueing. Needs `base`.
--
-- Item JSON is written by codec.ts in a canonical layout: it starts with `{"attempt":<n>,` and
-- ends with `"input":<json>}`. So Lua can bump the attempt and fill a join's input by string
-- surgery, without re-encoding the user's input.

local function attempt_prefix(attempt)
  return '{"attempt":' .. int(attempt) .. ','
end

-- The same item, waiting for its next delivery.
local function bump_attempt(raw, attempt)
  local prefix = attempt_prefix(attempt)
  if string.sub(raw, 1, #prefix) ~= prefix then return nil end
  return attempt_prefix(attempt + 1) .. string.sub(raw, #prefix + 1)
end

local function is_count(v, min)
  return type(v) == 'number' and v == math.floor(v) and v >= min
end

-- Decodes a queue entry; returns (item, nil) or (nil, problem) for an entry no worker could run.
local function parse_item(raw, workflow)
  local ok, item = pcall(cjson.decode, raw)
  if not ok then return nil, 'not JSON' end
  if type(item) ~= 'table' then return nil, 'not a JSON object' end
  for _, field in ipairs({ 'id', 'runId', 'workflow', 'version', 'node' }) do
    if type(item[field]) ~= 'string' or item[field] == '' then
      return nil, 'field "' .. field .. '" is missing or not a non-empty string'
    end
  end
  if not is_count(item.attempt, 1) then return nil, 'field "attempt" is not an integer >= 1' end
  if not is_count(item.maxAttempts, 1) then return nil, 'field "maxAttempts" is not an integer >= 1' end
  if type(item.enqueuedAt) ~= 'number' then return nil, 'field "enqueuedAt" is not a number' end
  if type(item.frames) ~= 'table' then return nil, 'field "frames" is not an array' end
  for _, frame in ipairs(item.frames) do
    if type(frame) ~= 'table' or type(frame.id) ~= 'string' or not is_count(frame.index, 0)
      or not is_count(frame.count, 1) then
      return nil, 'field "frames" holds a malformed frame'
    end
  end
  if item.workflow ~= workflow then
    return nil, 'item of workflow "' .. item.workflow .. '" in the queue of "' .. workflow .. '"'
  end
  if string.sub(raw, 1, #attempt_prefix(item.attempt)) ~= attempt_prefix(item.attempt) then
    return nil, 'not in the canonical item encoding'
  end
  return item, nil
end

-- The item state record (ItemState) keeps its accumulated duration and last error. `fresh`: the
-- item was just created, so there is no record to read.
local function set_item(run_id, id, node, attempt, status, err_json, add_ms, fresh)
  local key = rkey('items', run_id)
  local state = { itemId = id, runId = run_id, node = node, status = status, attempt = attempt,
    updatedAt = NOW, durationMs = 0 }
  local old = not fresh and redis.call('HGET', key, id)
  if old then
    local prev = cjson.decode(old)
    state.durationMs = prev.durationMs or 0
    state.lastError = prev.lastError
  end
  if err_json then state.lastError = cjson.decode(err_json) end
  if add_ms then state.durationMs = state.durationMs + add_ms end
  redis.call('HSET', key, id, cjson.encode(state))
  follow_ttl(run_id, key)
end

-- Keeps an item of a paused run on the run until it resumes.
local function park_item(run_id, raw, id, node, attempt, fresh)
  redis.call('RPUSH', rkey('parked', run_id), raw)
  mark_aux(run_id)
  set_item(run_id, id, node, attempt, 'parked', nil, nil, fresh)
end

-- Enqueues an item of a live run: it counts as pending; a paused run parks it instead. `fresh`:
-- a new item (not a re-delivery).
local function push_item(run_id, run_status, raw, id, node, attempt, fresh)
  redis.call('HINCRBY', rkey('run', run_id), 'pending', 1)
  if run_status == 'paused' then
    park_item(run_id, raw, id, node, attempt, fresh)
  else
    redis.call('RPUSH', K_READY, raw)
    set_item(run_id, id, node, attempt, 'queued', nil, nil, fresh)
    wake()
  end
end
