-- claim: lease the next runnable item of the workflow (see includes/claim.lua).
--
-- KEYS: the workflow keys (includes/base.lua).
-- ARGV[3] workflow name  ARGV[4] worker id  ARGV[5] lease ms  ARGV[6] lease token (fresh UUID)
-- Returns {'item', itemJson, deadline, runEventSeq} | {'empty', msUntilNextRetryDue or -1} | {'again'}
--
-- Invariant: the item moves from `ready` to a lease in this one script (no lost item).
--@include base
--@include items
--@include runs
--@include claim

return claim_next(ARGV[3], ARGV[4], tonumber(ARGV[5]), ARGV[6])
