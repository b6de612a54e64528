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
local BASE, RETENTION_MS, RETENTION_S
local MAX_ERRORS = 10000
-- The Redis clock is the only clock: lease deadlines and due times are compared across workers.
-- NOW_S and EXPIRE_AT_S are NOW and NOW + RETENTION_MS as strings, formatted once per call: a
-- number handed to redis.call or concatenated is formatted each time, which costs about as much
-- as a command.
local NOW, NOW_S, EXPIRE_AT_S
-- Runs this call saw live (not finished): their keys carry no TTL yet (finish sets it).
local LIVE = {}
-- Metric increments of this call, written once per field by end_call().
local M = {}
local M_FIELDS = {}
-- Whether this call enqueued work: end_call() rings the doorbell once.
local WAKE = false
-- Whether K.wake held the doorbell's marker when begin() read it (its type check): a marker no
-- blocked claim took yet needs no second ZADD. Only a blocked claim removes it, never a function.
local RUNG = false
-- Workflow keys whose type this call checked: name -> the problem, or false.
local CHECKED = {}
-- The hash key of the run run_hash_key() named last, and that run's id (begin() forgets it: BASE changes).
local RUN_KEY_OF, RUN_KEY
-- The runs this call finished, as ZADD arguments for `expiring` (score, run id, ...): one ZADD
-- for the call, by end_call(), however many runs finished.
local EXPIRED = {}

-- Short integer strings and their numbers, both ways, kept across calls (a few thousand at most:
-- only integer strings of up to 3 characters and integers 0..999 are kept). A step reads and
-- writes many small counts (list lengths, attempts, pending, indexes); `tonumber` of a string
-- runs strtod twice, `string.format` a printf and a pattern match checks a class per character
-- in Lua's own loop: a table lookup is several times cheaper.
local NUM_OF, STR_OF = {}, {}

local INT_PATTERN = '^%-?%d+$'

-- tonumber(s) for the counts the functions read (a small count a function already holds as a
-- number is kept too, as itself). On the hot paths callers write `NUM_OF[s] or num(s)`: a hit
-- then costs one table read instead of a function call.
local function num(s)
  local n = NUM_OF[s]
  if n then return n end
  n = tonumber(s)
  if not n then return nil end
  if type(s) == 'string' then
    if #s <= 3 and string.find(s, INT_PATTERN) then NUM_OF[s] = n end
  elseif n >= 0 and n < 1000 and n == math.floor(n) then
    NUM_OF[n] = n
  end
  return n
end

-- Whether a hash field holds an integer counter (absent counts as 0): at most 15 digits, so a
-- sum of two stays exact in a Lua number.
local function is_int(value)
  return value == nil or value == false or NUM_OF[value] ~= nil
    or (string.find(value, INT_PATTERN) ~= nil and #value <= 15)
end

-- An integer as its decimal string (string.format('%d'): no floating-point formatting).
local function int(n)
  local s = STR_OF[n]
  if s then return s end
  s = string.format('%d', n)
  if n >= 0 and n < 1000 and n == math.floor(n) then STR_OF[n] = s end
  return s
end

-- The type each key must have (absent is fine: the first write creates it). Checked before a
-- function's first write: a write to a key of another type fails, and Redis never rolls back.
local KEY_TYPES = {
  layout = 'string', ready = 'list', leases = 'zset', lease_items = 'hash', delayed = 'zset', wake = 'zset',
  dead = 'list', errors = 'list', metrics = 'hash', runs = 'zset', expiring = 'zset', workers = 'hash',
  reclaim_guard = 'string', worker_expiry = 'zset', versions = 'hash',
  run = 'hash', events = 'list', parked = 'list', held = 'hash', joins = 'hash', ['open-joins'] = 'set',
  checkpoint = 'hash', ['run-errors'] = 'list', staged = 'list', idem = 'string',
}

-- Why `key` cannot hold a `kind` key, or nil.
local function type_problem(key, kind)
  local actual = redis.call('TYPE', key)['ok']
  if actual == 'none' or actual == KEY_TYPES[kind] then return nil end
  return 'key ' .. key .. ' is a ' .. actual .. ', not a ' .. KEY_TYPES[kind]
end

-- K and CHECKED are one table per function, kept across calls: a function always files the same
-- names, so a call overwrites (or clears) the slots of the last one and allocates nothing; the
-- same for the metric tables, cleared here rather than at the end (a call that raised never got
-- there).
local K_OF, CHECKED_OF = {}, {}

-- Checks the type of the keys at positions `checked` (scripts.ts: every key the function
-- receives but those it reads, or writes first, before any other write on every path
-- (`--@read-first`: a wrong type fails that command before anything is written), and those it
-- checks itself with key_problem() only on the paths that write them (`--@checked-late`));
-- returns the first problem (the function then refuses before any write) or nil.
local function begin(names, keys, args, checked)
  K = K_OF[names]
  CHECKED = CHECKED_OF[names]
  if not K then
    K, CHECKED = {}, {}
    K_OF[names], CHECKED_OF[names] = K, CHECKED
  end
  for i = 1, #names do
    K[names[i]] = keys[i]
    CHECKED[names[i]] = nil
  end
  BASE = args[1]
  RETENTION_S = args[2]
  RETENTION_MS = tonumber(RETENTION_S)
  local t = redis.call('TIME')
  NOW = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
  NOW_S = int(NOW)
  EXPIRE_AT_S = int(NOW + RETENTION_MS)
  LIVE = {}
  for i = #M_FIELDS, 1, -1 do
    M[M_FIELDS[i]] = nil
    M_FIELDS[i] = nil
  end
  for i = #EXPIRED, 1, -1 do EXPIRED[i] = nil end
  WAKE = false
  RUNG = false
  RUN_KEY_OF = nil
  for c = 1, #checked do
    local i = checked[c]
    local problem
    if names[i] == 'wake' then
      -- The doorbell's marker read is its type check (a zset or nothing answers a number or nil).
      local score = redis.pcall('ZSCORE', keys[i], 'w')
      if type(score) == 'table' and score['err'] then problem = type_problem(keys[i], 'wake') end
      RUNG = score ~= false and not problem
    else
      problem = type_problem(keys[i], names[i])
    end
    CHECKED[names[i]] = problem or false
    if problem then return problem end
  end
  return nil
end

-- Why workflow key `name` (as K names it) cannot be written, or nil; one TYPE per key and call,
-- none for a key begin() checked or the function does not receive. For `--@checked-late` keys,
-- called in an entry's checks before its first write, on the paths that write the key.
local function key_problem(name)
  local known = CHECKED[name]
  if known == nil then
    if not K[name] then return nil end
    known = type_problem(K[name], name) or false
    CHECKED[name] = known
  end
  return known or nil
end

-- One command per CHUNK arguments: unpack() of a long list overflows Lua's C stack (~8000).
local CHUNK = 4000
local function call_many(cmd, key, args)
  for i = 1, #args, CHUNK do
    redis.call(cmd, key, unpack(args, i, math.min(i + CHUNK - 1, #args)))
  end
end

local function metric(field, by)
  local old = M[field]
  if not old then
    M_FIELDS[#M_FIELDS + 1] = field
    old = 0
  end
  M[field] = old + (by or 1)
end

-- Field names per counter and node, kept across calls (as many as the workflows' nodes).
local NODE_FIELDS = {}

local function node_field(node, name)
  local names = NODE_FIELDS[name]
  if not names then
    names = {}
    NODE_FIELDS[name] = names
  end
  local field = names[node]
  if not field then
    field = 'node:' .. name .. ':' .. node
    names[node] = field
  end
  return field
end

local function node_metric(node, name, by)
  metric(node_field(node, name), by)
end


-- Adds `by` to metric counter `field`. A counter that is not an integer is refused by HINCRBY,
-- which then writes nothing; it is replaced by `by` instead (the metrics hash's type was checked
-- before the call's first write, so HSET cannot fail). Returns 1 when it replaced the counter.
local function add_metric(field, by)
  if type(redis.pcall('HINCRBY', K.metrics, field, by)) == 'number' then return 0 end
  redis.call('HSET', K.metrics, field, by)
  return 1
end

-- The last writes of every call: one HINCRBY per metric field touched (a batch of steps of one
-- node costs one per counter, not one per step; Redis adds in C, cheaper than parsing and
-- formatting the numbers in Lua for one HSET), one ZADD of the runs it finished to `expiring`
-- (their keys' PEXPIREs went out with each run) and one wake marker however many items it
-- enqueued (one marker wakes one blocked claim, which passes it on while work remains), none when
-- the marker begin() read is still there.
--
-- A counter that is not an integer (its HINCRBY is refused, add_metric) is replaced by this
-- call's increment and counted in `corruptEntries`: one bad counter never blocks a commit.
local function end_call()
  local reset = 0
  for i = 1, #M_FIELDS do
    local by = M[M_FIELDS[i]]
    if by ~= 0 then reset = reset + add_metric(M_FIELDS[i], int(by)) end
  end
  if reset > 0 then add_metric('corruptEntries', int(reset)) end
  if #EXPIRED > 0 then call_many('ZADD', K.expiring, EXPIRED) end
  if WAKE and not RUNG then redis.call('ZADD', K.wake, '0', 'w') end
end

local TERMINAL = { completed = true, failed = true, cancelled = true }
local STATUSES = { queued = true, running = true, paused = true, completed = true, failed = true, cancelled = true }

local function jstr(s)
  return cjson.encode(s)
end

local function rkey(kind, run_id)
  return BASE .. ':' .. kind .. ':' .. run_id
end

-- rkey('run', run_id), remembered for the run met last: a step's commit (or claim) names its
-- run's hash several times, and each concatenation hashes a new string.
local function run_hash_key(run_id)
  if run_id ~= RUN_KEY_OF then RUN_KEY_OF, RUN_KEY = run_id, rkey('run', run_id) end
  return RUN_KEY
end

-- The follow-ups a step staged under its lease token (stage.lua), published by its commit.
local function staged_key(token)
  return BASE .. ':staged:' .. token
end

-- A queue key of a version (keys.ts VERSION_KEY_NAMES), for the functions that enqueue into a
-- version other than the caller's: create-run (the version it chooses), resume-run (the run's).
local function vkey(name, version)
  return BASE .. ':' .. name .. ':' .. version
end

-- Points K.ready and K.wake at the queue of the version a run is pinned to (`version`: the run
-- hash's field, nil when missing), for functions that enqueue a run's items whichever version's
-- store calls them (resume-run, redrive). Returns the problem (nothing written yet) or nil.
local function use_run_version(run_key, version)
  if not version then return 'field version of ' .. run_key .. ' is missing' end
  K.ready, K.wake = vkey('ready', version), vkey('wake', version)
  RUNG = false
  return type_problem(K.ready, 'ready') or type_problem(K.wake, 'wake')
end

local function wake()
  WAKE = true
end

-- A key written after its run finished expires with the run's hash.
local function follow_ttl(run_id, key)
  if LIVE[run_id] then return end
  local ttl = redis.call('PTTL', run_hash_key(run_id))
  if ttl > 0 then redis.call('PEXPIRE', key, ttl) end
end

-- The run now has one of its rare keys (parked, checkpoint, errors): finish must expire them.
local function mark_aux(run_id)
  redis.call('HSET', run_hash_key(run_id), 'aux', '1')
end

local function error_json(code, message, node)
  local e = { code = code, message = message }
  if node ~= nil and node ~= '' then e.node = node end
  return cjson.encode(e)
end
