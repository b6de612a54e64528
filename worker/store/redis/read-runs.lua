-- read-runs: the RunInfo fields and outputs of some runs, as of one instant.
--
-- KEYS (see includes/base.lua; `runs` routes the call to the workflow's slot):
--@keys runs
--@flags no-writes
-- ARGV[3..] run ids
-- Returns one flat field/value list per run id (empty for a run that expired).
--
-- Invariant: the cost is per field and output, never per item record, so a status poll of a
-- long run costs what it costs for a short one. Writes nothing (runs on replicas too).

local runs = {}
for i = 3, #ARGV do runs[#runs + 1] = snapshot(ARGV[i]) end
return runs
