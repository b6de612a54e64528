-- Shared by every function of the library (scripts.ts composes it: these helpers are defined
-- once, at FUNCTION LOAD, not on every call).
--
-- KEYS: each function receives only the keys its `--@keys` line names, in that order; begin()
--       files them under K by name (`lease-items` as K.lease_items). Per-run keys are built from
--       BASE, so every key a function touches shares the workflow's hash tag (Cluster-safe).
-- ARGV[1] the key base `{prefix:workflow}`
-- ARGV[2] retention of a finished run's keys, in milliseconds.
-- Function-specific arguments start at ARGV[3].
--
-- VALIDATE BEFORE WRITE: Redis never rolls a function back, so each one reads and checks
-- everything it needs first and writes last; nothing that can fail runs after its first write.
-- A batch applies this per entry: each entry is checked before any of its writes, and an entry
-- that fails its check (a stale lease token) is refused alone. Arguments are validated by the
-- TypeScript caller before the call (commit-args.ts).
--
-- User payloads (inputs, events, outputs) are opaque strings here: Lua never decodes them. An
-- item's routing fields are read from the fixed head of its canonical JSON (items.lua).
--
-- The state below is per call: Redis runs one function at a time, and begin() sets all of it
-- before the function's first command.

local K = {}
local BASE, RETENTION_MS
local MAX_ERRORS = 10000
-- The Redis clock is the only clock: lease deadlines and due times are compared across workers.
local NOW
-- Runs this call saw live (not finished): their keys carry no TTL yet (finish sets it).
local LIVE = {}
-- Metric increments of this call, written once per field by end_call().
local M = {}
local M_FIELDS = {}
-- Whether this call enqueued work: end_call() rings the doorbell once.
local WAKE = false

local function begin(names, keys, args)
  K = {}
  for i = 1, #names do K[names[i]] = keys[i] end
  BASE = args[1]
  RETENTION_MS = tonumber(args[2])
  local t = redis.call('TIME')
  NOW = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
  LIVE = {}
  M = {}
  M_FIELDS = {}
  WAKE = false
end

local function metric(field, by)
  local old = M[field]
  if not old then
    M_FIELDS[#M_FIELDS + 1] = field
    old = 0
  end
  M[field] = old + (by or 1)
end

local function node_metric(node, name, by)
  metric('node:' .. name .. ':' .. node, by)
end

-- The last writes of every call: one HINCRBY per metric field touched (a batch of steps of one
-- node costs one per counter, not one per step) and one wake marker however many items it
-- enqueued (one marker wakes one blocked claim, which passes it on while work remains).
local function end_call()
  for _, field in ipairs(M_FIELDS) do
    if M[field] ~= 0 then redis.call('HINCRBY', K.metrics, field, M[field]) end
  end
  if WAKE then redis.call('ZADD', K.wake, 0, 'w') end
end

local TERMINAL = { completed = true, failed = true, cancelled = true }

local function int(n)
  return string.format('%.0f', n)
end

local function jstr(s)
  return cjson.encode(s)
end

local function rkey(kind, run_id)
  return BASE .. ':' .. kind .. ':' .. run_id
end

local function wake()
  WAKE = true
end

-- A key written after its run finished expires with the run's hash.
local function follow_ttl(run_id, key)
  if LIVE[run_id] then return end
  local ttl = redis.call('PTTL', rkey('run', run_id))
  if ttl > 0 then redis.call('PEXPIRE', key, ttl) end
end

-- The run now has one of its rare keys (parked, checkpoint, errors): finish must expire them.
local function mark_aux(run_id)
  redis.call('HSET', rkey('run', run_id), 'aux', 1)
end

local function error_json(code, message, node)
  local e = { code = code, message = message }
  if node ~= nil and node ~= '' then e.node = node end
  return cjson.encode(e)
end
