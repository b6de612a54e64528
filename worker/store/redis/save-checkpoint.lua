-- save-checkpoint: keep the newest folded state of a run (one key, read in one call).
--
-- KEYS (see includes/base.lua) (`run`: the run's hash, keys.ts):
--@keys run
--@read-first run
-- ARGV[3] run id  ARGV[4] sequence the state includes  ARGV[5] state JSON
-- Returns 1 if stored, 0 if the run is unknown or a newer checkpoint exists.
--
-- Invariant: the stored sequence only grows, so a slow worker never replaces a newer snapshot.

local RUN_ID, SEQ, STATE = ARGV[3], tonumber(ARGV[4]), ARGV[5]
local problem = check_run(RUN_ID, { 'checkpoint' })
if problem then return redis.error_reply('CORRUPT ' .. problem) end
if redis.call('EXISTS', run_hash_key(RUN_ID)) == 0 then return 0 end
local key = rkey('checkpoint', RUN_ID)
local current = redis.call('HGET', key, 'seq')
if current and (tonumber(current) or -1) >= SEQ then return 0 end
redis.call('HSET', key, 'seq', SEQ, 'state', STATE)
if not current then mark_aux(RUN_ID) end
follow_ttl(RUN_ID, key)
return 1
