-- Shared by every script (inlined by scripts.ts where a script says `--@include base`).
--
-- KEYS (the same 14 for every script, all under the workflow's hash tag; see keys.ts):
--   1 ready  2 leases  3 lease-items  4 lease-meta  5 delayed  6 wake  7 dead  8 errors
--   9 metrics  10 runs  11 expiring  12 workers  13 reclaim-guard  14 worker-expiry
-- ARGV[1] the key base `{prefix:workflow}`; per-run keys are built from it, so every key a
--         script touches shares one hash slot (Cluster-safe).
-- ARGV[2] retention of a finished run's keys, in milliseconds.
-- Script-specific arguments start at ARGV[3].
--
-- Scripts never roll back, so each one checks everything first and writes last. User payloads
-- (inputs, events, outputs) are opaque JSON strings here: cjson would re-encode numbers with 14
-- digits, so Lua only decodes the JSON it wrote itself, and item JSON to read its header.

local K_READY, K_LEASES, K_LEASE_ITEMS, K_LEASE_META = KEYS[1], KEYS[2], KEYS[3], KEYS[4]
local K_DELAYED, K_WAKE, K_DEAD, K_ERRORS = KEYS[5], KEYS[6], KEYS[7], KEYS[8]
local K_METRICS, K_RUNS, K_EXPIRING, K_WORKERS = KEYS[9], KEYS[10], KEYS[11], KEYS[12]
local K_RECLAIM_GUARD, K_WORKER_EXPIRY = KEYS[13], KEYS[14]
local BASE = ARGV[1]
local RETENTION_MS = tonumber(ARGV[2])
local MAX_ERRORS = 10000

-- The Redis clock is the only clock: lease deadlines and due times are compared across workers.
local NOW
do
  local t = redis.call('TIME')
  NOW = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
end

local TERMINAL = { completed = true, failed = true, cancelled = true }
-- A finished run's keys (`held` is deleted when the run finishes).
local RUN_KINDS = { 'run', 'events', 'outputs', 'items', 'parked', 'joins', 'open-joins', 'checkpoint', 'errors' }
local JOIN_KINDS = { joins = true, ['open-joins'] = true }
-- Keys few runs have: a run that writes one sets `aux` on its hash, so finish expires them only then.
local AUX_KINDS = { parked = true, checkpoint = true, errors = true }

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
  redis.call('ZADD', K_WAKE, 0, 'w')
end

-- Runs this script saw live (not finished): their keys carry no TTL yet (finish sets it).
local LIVE = {}

-- A key written after its run finished expires with the run's other keys.
local function follow_ttl(run_id, key)
  if LIVE[run_id] then return end
  local ttl = redis.call('PTTL', rkey('run', run_id))
  if ttl > 0 then redis.call('PEXPIRE', key, ttl) end
end

-- A lease is its deadline in `leases` and one field in `lease-items`: the lease's meta JSON
-- (runId, id, node, attempt, maxAttempts, workerId), a newline, then the item JSON. Neither can
-- hold a raw newline before it (cjson escapes them), so the first newline splits them.
local function write_lease(token, meta, raw)
  redis.call('HSET', K_LEASE_ITEMS, token, cjson.encode(meta) .. '\n' .. raw)
end

-- Returns meta, item JSON, legacy; nil when the token holds no lease. A lease written before
-- meta and item shared a field keeps its meta in `lease-meta` (legacy = true).
local function read_lease(token)
  local value = redis.call('HGET', K_LEASE_ITEMS, token)
  if not value then return nil end
  local nl = string.find(value, '\n', 1, true)
  if nl then return cjson.decode(string.sub(value, 1, nl - 1)), string.sub(value, nl + 1), false end
  local meta = redis.call('HGET', K_LEASE_META, token)
  if not meta then return nil end
  return cjson.decode(meta), value, true
end

local function drop_lease(token, legacy)
  redis.call('ZREM', K_LEASES, token)
  redis.call('HDEL', K_LEASE_ITEMS, token)
  if legacy then redis.call('HDEL', K_LEASE_META, token) end
end

-- The run now has one of the AUX_KINDS keys: finish must expire it.
local function mark_aux(run_id)
  redis.call('HSET', rkey('run', run_id), 'aux', 1)
end

local function metric(field, by)
  redis.call('HINCRBY', K_METRICS, field, by or 1)
end

local function node_metric(node, name, by)
  redis.call('HINCRBY', K_METRICS, 'node:' .. name .. ':' .. node, by or 1)
end

local function error_json(code, message, node)
  local e = { code = code, message = message }
  if node ~= nil and node ~= '' then e.node = node end
  return cjson.encode(e)
end
