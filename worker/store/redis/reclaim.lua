-- reclaim: re-deliver the items whose lease expired (their worker died or stalled).
--
-- KEYS (see includes/base.lua):
--@keys ready leases lease-items wake dead errors metrics expiring reclaim-guard workers worker-expiry
--@read-first worker-expiry
-- ARGV[3] guard ms: after a sweep, other workers skip sweeping for this long
-- ARGV[4] batch: at most this many leases per call
-- Returns {requeued, deadLettered}. Also forgets workers whose liveness expired (one range query).
--
-- Invariants: any worker may run this (there is no reaper process). A lease is reclaimed only
-- once its deadline (Redis clock) has passed; the item is re-enqueued with attempt + 1, or,
-- on its last attempt, dead-lettered with a LeaseLost error, which fails its run; an item of a
-- run that finished meanwhile is recorded `cancelled`. The expired
-- lease is gone afterwards, so its worker's late commit gets 'lease-lost'. The SET NX PX guard
-- keeps many idle workers from all sweeping at the same moment; the cheap peek before it keeps
-- the guard from delaying the sweep when leases have just expired. A lease that cannot be read,
-- or whose run's data cannot be trusted, is set aside (dead-lettered as CorruptEntry, its run
-- failed) so one bad entry never stops the sweep.

local GUARD_MS, BATCH = tonumber(ARGV[3]), tonumber(ARGV[4])

forget_dead_workers()

if #redis.call('ZRANGEBYSCORE', K.leases, '-inf', NOW, 'LIMIT', 0, 1) == 0 then return { 0, 0 } end
if not redis.call('SET', K.reclaim_guard, '1', 'NX', 'PX', GUARD_MS) then return { 0, 0 } end

local requeued, dead = 0, 0
local expired = redis.call('ZRANGEBYSCORE', K.leases, '-inf', NOW, 'LIMIT', 0, BATCH)
for _, token in ipairs(expired) do
  local value = redis.call('HGET', K.lease_items, token)
  local meta, raw, worker_id = split_lease(value)
  local run, problem
  if meta then
    run, problem = read_run(meta.runId, { 'status', 'pending', 'held', 'openJoins', 'eventSeq', 'outputs' })
    if not problem and run[1] and not TERMINAL[run[1]] then
      problem = run_keys_problem(meta.runId, run[1] == 'paused' and { 'run-errors', 'parked' } or { 'run-errors' })
    end
  end
  -- Writes (each lease is read and checked just above).
  drop_lease(token)
  metric('leaseReclaims')
  if not meta and value then
    -- A lease record no worker could run: set aside with its bytes, never silently dropped.
    local nl = string.find(value, '\n', 1, true)
    set_aside(nl and string.sub(value, nl + 1) or value, run_of(value),
      'lease ' .. token .. ' in ' .. K.lease_items .. ' is not a lease record')
    dead = dead + 1
  elseif problem then
    set_aside(raw, meta.runId, problem)
    dead = dead + 1
  elseif meta then
    local run_id = meta.runId
    local status = run[1]
    if status and TERMINAL[status] then
      -- Its worker died mid-step after the run finished: the item ends with the run, as a
      -- commit would have ended it (never `running` forever).
      set_item(run_id, meta.id, meta.node, meta.attempt, 'cancelled')
    elseif status then
      local err = error_json('LeaseLost', 'lease of worker ' .. worker_id .. ' expired on attempt '
        .. int(meta.attempt), meta.node)
      local next_raw = bump_attempt(raw, meta.attempt)
      if meta.attempt >= meta.maxAttempts or not next_raw then
        record_error(run_id, meta.id, meta.node, meta.attempt, err, 'dead')
        dead = dead + 1
        dead_letter(run_id, raw, meta.id, meta.node, meta.attempt, err)
      else
        record_error(run_id, meta.id, meta.node, meta.attempt, err, 'reclaim')
        requeued = requeued + 1
        -- Still pending: the item goes back to the queue, its count unchanged.
        enqueue(run_id, status, next_raw, meta.id, meta.node, meta.attempt + 1)
      end
    end
  end
end
-- A full batch means more may be waiting: let the next caller go on without the guard.
if #expired == BATCH then redis.call('DEL', K.reclaim_guard) end
return { requeued, dead }
