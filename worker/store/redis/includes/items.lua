-- Work items: their head, leases, item records, enqueueing. Needs `base`.
--
-- Item JSON is written by codec.ts in a canonical layout that starts with the routing fields
-- `{"attempt":<n>,"maxAttempts":<n>,"id":"..","runId":"..","workflow":"..","version":"..",
-- "node":"..","enqueuedAt":` and ends with `"input":<json>}`. codec.ts validates them once, at
-- enqueue; Lua reads them with one pattern match (no JSON decode), bumps the attempt by string
-- surgery and fills a join's input by appending, never touching the user's input. An entry that
-- does not match (a foreign writer, ids needing JSON escapes) takes the slow path: cjson.decode
-- and a full check of its header.

local HEAD = '^{"attempt":(%d+),"maxAttempts":(%d+),"id":"([^"\\]+)","runId":"([^"\\]+)",'
  .. '"workflow":"([^"\\]+)","version":"[^"\\]+","node":"([^"\\]+)","enqueuedAt":'

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

-- The slow path: decodes an entry the head pattern did not match.
local function parse_item_json(raw, workflow)
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
  if workflow and item.workflow ~= workflow then
    return nil, 'item of workflow "' .. item.workflow .. '" in the queue of "' .. workflow .. '"'
  end
  if string.sub(raw, 1, #attempt_prefix(item.attempt)) ~= attempt_prefix(item.attempt) then
    return nil, 'not in the canonical item encoding'
  end
  return { attempt = item.attempt, attempt_s = int(item.attempt), maxAttempts = item.maxAttempts,
    id = item.id, runId = item.runId, node = item.node }, nil
end

-- An entry's routing fields {attempt, maxAttempts, id, runId, node}, or (nil, problem) for an
-- entry no worker could run. `workflow`: the workflow it must belong to (nil: not checked).
local function parse_item(raw, workflow)
  local attempt, max_attempts, id, run_id, wf, node = string.match(raw, HEAD)
  if attempt and (not workflow or wf == workflow) then
    return { attempt = NUM_OF[attempt] or num(attempt), attempt_s = attempt,
      maxAttempts = NUM_OF[max_attempts] or num(max_attempts), id = id,
      runId = run_id, node = node }, nil
  end
  return parse_item_json(raw, workflow)
end

-- A lease is its deadline in `leases` and one field in `lease-items`: the worker id, a newline,
-- then the item JSON (a worker id holds no newline: store.ts checks).
local function lease_value(worker_id, raw)
  return worker_id .. '\n' .. raw
end

-- Splits a `lease-items` value: head, item JSON, worker id; nil for none.
local function split_lease(value)
  if not value then return nil end
  local nl = string.find(value, '\n', 1, true)
  if not nl then return nil end
  local raw = string.sub(value, nl + 1)
  local head = parse_item(raw, nil)
  if not head then return nil end
  return head, raw, string.sub(value, 1, nl - 1)
end

local function read_lease(token)
  return split_lease(redis.call('HGET', K.lease_items, token))
end

-- The heads the claims of this Redis process parsed, by lease token: {lease record, head, item
-- JSON}, kept across calls so the commit of a lease does not parse its item again (a head
-- pattern match is ~20k Redis instructions). Only a cache: it is used when the record in
-- `lease-items` is the very string cached (Lua interns strings, so the comparison is one pointer
-- test) and is empty after a restart, a failover or a library reload, when the commit parses.
-- At most LEASED_MAX entries, ~10 MB of Lua memory (a lease whose commit never comes stays until
-- the sweep drops it, or the cache is emptied whole when full).
local LEASED, LEASED_N, LEASED_MAX = {}, 0, 10000

local function remember_lease(token, value, head, raw)
  if LEASED_N >= LEASED_MAX then LEASED, LEASED_N = {}, 0 end
  LEASED[token] = { value, head, raw }
  LEASED_N = LEASED_N + 1
end

local function forget_lease(token)
  if LEASED[token] then
    LEASED[token] = nil
    LEASED_N = LEASED_N - 1
  end
end

-- split_lease(value) of the lease `token`, from the cache when it holds that record.
local function leased_head(token, value)
  local cached = LEASED[token]
  if cached and cached[1] == value then return cached[2], cached[3] end
  return split_lease(value)
end

-- Drops a lease and whatever its holder staged (a worker that died mid-staging leaves nothing).
local function drop_lease(token)
  redis.call('ZREM', K.leases, token)
  redis.call('HDEL', K.lease_items, token)
  redis.call('UNLINK', staged_key(token))
  forget_lease(token)
end

-- Item records (ItemState) live in the run's hash, field `i:<item id>`, as
-- `status TAB attempt TAB updatedAt TAB durationUs TAB node TAB lastError JSON (or empty)`; they
-- keep the accumulated duration (integer microseconds) and the last error across attempts.
-- Records of a run are written in the same HSET as the run's other fields where a function
-- writes both (commit, create-run). `attempt` and `add_us` may be strings (as the caller got them:
-- no number formatting on the hot path) or numbers.
local function item_value(old, status, attempt, node, err_json, add_us)
  local duration, last_error = add_us or '0', ''
  if old then
    local d, e = string.match(old, '^[^\t]*\t[^\t]*\t[^\t]*\t([^\t]*)\t[^\t]*\t(.*)$')
    duration = int((num(d) or 0) + (num(add_us) or 0))
    last_error = e or ''
  elseif type(duration) == 'number' then
    duration = int(duration)
  end
  if err_json then last_error = err_json end
  if type(attempt) == 'number' then attempt = int(attempt) end
  return status .. '\t' .. attempt .. '\t' .. NOW_S .. '\t' .. duration .. '\t' .. node .. '\t' .. last_error
end

local function read_item(run_id, id)
  return redis.call('HGET', run_hash_key(run_id), 'i:' .. id)
end

-- `fresh`: the item has no record yet (a first delivery), so there is nothing to read.
local function set_item(run_id, id, node, attempt, status, err_json, add_us, fresh)
  local old = not fresh and read_item(run_id, id) or nil
  redis.call('HSET', run_hash_key(run_id), 'i:' .. id, item_value(old, status, attempt, node, err_json, add_us))
end

-- Keeps an item of a paused run on the run until it resumes.
local function park_item(run_id, raw, id, node, attempt, fresh)
  redis.call('RPUSH', rkey('parked', run_id), raw)
  metric('parkedItems')
  mark_aux(run_id)
  set_item(run_id, id, node, attempt, 'parked', nil, nil, fresh)
end

-- Enqueues an item of a live run without counting it pending (the caller does); a paused run
-- parks it instead. `fresh`: a new item (not a re-delivery): its record is written unread.
local function enqueue(run_id, run_status, raw, id, node, attempt, fresh)
  if run_status == 'paused' then
    park_item(run_id, raw, id, node, attempt, fresh)
  else
    redis.call('RPUSH', K.ready, raw)
    set_item(run_id, id, node, attempt, 'queued', nil, nil, fresh)
    wake()
  end
end

-- Enqueues an item and counts it pending.
local function push_item(run_id, run_status, raw, id, node, attempt, fresh)
  redis.call('HINCRBY', run_hash_key(run_id), 'pending', '1')
  enqueue(run_id, run_status, raw, id, node, attempt, fresh)
end
