-- Claiming: lease the next runnable item. Needs `base`, `items`, `runs`.
--
-- Invariant: an item is always somewhere in Redis: it moves from `ready` to a lease (deadline in
-- `leases`, JSON in `lease-items`) in one script, so a worker that dies at any instant loses
-- nothing. Due retries move from `delayed` to `ready` first, so whichever worker claims next
-- advances the clock; no scheduler process is needed.
-- Items of finished (or expired) runs are dropped, items of paused runs parked on the run, and
-- entries no worker could run are dead-lettered with an InvalidItem error instead of failing
-- every claim after them.

local MAX_SKIPPED = 100

-- An entry we cannot parse keeps its bytes (as the input of a placeholder item) for inspection.
local function dead_letter_malformed(workflow, raw, problem)
  local id = 'invalid-' .. string.sub(redis.sha1hex(raw), 1, 16)
  local excerpt = string.sub(raw, 1, 200)
  local err = error_json('InvalidItem', 'malformed work item in the ready list (' .. problem .. '): ' .. excerpt)
  local item = '{"attempt":1,"maxAttempts":1,"id":' .. jstr(id) .. ',"runId":"","workflow":' .. jstr(workflow)
    .. ',"version":"","node":"","enqueuedAt":' .. int(NOW) .. ',"frames":[],"input":' .. jstr(raw) .. '}'
  redis.call('RPUSH', K_DEAD, '{"at":' .. int(NOW) .. ',"error":' .. err .. ',"item":' .. item .. '}')
  metric('deadLettered')
  record_error('', id, '', 1, err, 'dead')
end

-- Returns {'item', itemJson, deadline, runEventSeq} | {'empty', msUntilNextRetryDue or -1} | {'again'}
-- (runEventSeq: the run's last event sequence, so a worker with a current cache reads nothing;
-- 'again': many dead entries were skipped; call again without blocking).
local function claim_next(workflow, worker_id, lease_ms, token)
  -- The lease's slot is taken first, NX, which makes claims idempotent per token: a claim the
  -- client re-sends after a lost reply (ioredis re-sends unfulfilled commands when it reconnects
  -- after a Redis restart) gets the lease the first send took. Claiming again would overwrite
  -- that lease and lose its item. Every return without an item gives the slot back.
  local deadline = NOW + lease_ms
  if redis.call('ZADD', K_LEASES, 'NX', deadline, token) == 0 then
    local held_meta, held = read_lease(token)
    if held_meta then
      return { 'item', held, int(tonumber(redis.call('ZSCORE', K_LEASES, token))),
        redis.call('LLEN', rkey('events', held_meta.runId)) }
    end
  end

  local due = redis.call('ZRANGEBYSCORE', K_DELAYED, '-inf', NOW, 'LIMIT', 0, 1000)
  for _, raw in ipairs(due) do
    redis.call('RPUSH', K_READY, raw)
    redis.call('ZREM', K_DELAYED, raw)
  end

  for _ = 1, MAX_SKIPPED do
    local raw = redis.call('LPOP', K_READY)
    if not raw then
      redis.call('ZREM', K_LEASES, token)
      local next_due = redis.call('ZRANGE', K_DELAYED, 0, 0, 'WITHSCORES')
      if #next_due == 0 then return { 'empty', -1 } end
      return { 'empty', math.max(0, tonumber(next_due[2]) - NOW) }
    end
    local item, problem = parse_item(raw, workflow)
    if not item then
      dead_letter_malformed(workflow, raw, problem)
    else
      local run_id = item.runId
      local run_key = rkey('run', run_id)
      local run = redis.call('HMGET', run_key, 'status', 'createdAt')
      local status = run[1]
      if not status then
        -- The run expired or never existed: nothing to record the item on.
      elseif TERMINAL[status] then
        set_item(run_id, item.id, item.node, item.attempt, 'cancelled')
      elseif status == 'paused' then
        park_item(run_id, raw, item.id, item.node, item.attempt)
      else
        LIVE[run_id] = true
        write_lease(token, { runId = run_id, id = item.id, node = item.node, attempt = item.attempt,
          maxAttempts = item.maxAttempts, workerId = worker_id }, raw)
        -- A first attempt's record holds no duration or error yet: written without reading it.
        set_item(run_id, item.id, item.node, item.attempt, 'running', nil, nil, item.attempt == 1)
        if status == 'queued' then set_status(run_id, 'queued', 'running', run[2], 'startedAt', int(NOW)) end
        -- One marker wakes one blocked worker; pass it on while work remains.
        if redis.call('LLEN', K_READY) > 0 then wake() end
        return { 'item', raw, int(deadline), redis.call('LLEN', rkey('events', run_id)) }
      end
    end
  end
  redis.call('ZREM', K_LEASES, token)
  return { 'again' }
end
