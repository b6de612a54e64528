-- claim: lease up to K runnable items of the workflow (see includes/claim.lua).
--
-- KEYS (see includes/base.lua):
--@keys ready leases lease-items delayed wake dead errors metrics
--@read-first leases delayed ready
-- (ready: its RPUSH of due retries or its LPOP is the first write on every path that writes)
-- ARGV[3] workflow name  ARGV[4] lease ms  ARGV[5..] pairs: lease token (fresh UUID), worker id;
--   one pair per item wanted (the caller's free concurrency)
-- Returns {'items', '', token, itemJson, deadline, runEventSeq, ...} (one quadruple per claimed
--   item, at most one per token) | {'empty', msUntilNextRetryDue or -1} | {'again', ''}
--
-- Invariant: each item moves from `ready` to its own lease in this one call (no lost item); a
-- token re-sent after a lost reply gets the lease it took the first time.

local tokens, workers = {}, {}
for i = 5, #ARGV, 2 do
  tokens[#tokens + 1] = ARGV[i]
  workers[#workers + 1] = ARGV[i + 1]
end
local reply = { '', '' }
local kind, due = claim_batch(ARGV[3], tonumber(ARGV[4]), tokens, workers, reply)
reply[1], reply[2] = kind, due or ''
return reply
