-- Fan-in: branch arrivals at a join. Needs `base`, `items`.
--
-- One join slot per (fan-out frame, join node) lives in the run's joins HASH under fields
-- `<slot>|count|node|id|attempt|item|got` and `<slot>|v|<index>`; open slots are in the run's
-- open-joins SET (for JoinIncomplete) and counted by the run's `openJoins`. codec.ts guarantees
-- 0 <= index < count, so once `count` distinct indexes arrived, they are exactly 0..count-1.

-- Records one arrival (the first per index wins). Returns the join item {raw, id, node,
-- attempt} when this arrival completed the slot (its input: the arrived values in index order),
-- else nil; and the change of the run's open slots (+1 opened, -1 closed, 0). Neither counts
-- the join item pending nor enqueues it: the caller does both. `index_s`, `count_s` and
-- `join_attempt` are integers as the caller sent them (strings): written as they are, since
-- Redis formats a Lua number argument with snprintf("%.17g"), and Lua a concatenated one with
-- "%.14g", both through glibc's slow floating-point printing.
--
-- `read_slot`: the slot's name when the caller read it already (commit's arrivals_problem), with
-- its count, got and this index's value as read (false when absent); nil: read here.
local function arrive(run_id, frame_id, index_s, count_s, value, join_node, join_id, join_attempt, prefix,
                      read_slot, read_count, read_got, read_seen)
  local key = rkey('joins', run_id)
  local slot = read_slot or frame_id .. '>' .. join_node
  local index, count = num(index_s), num(count_s)
  if not read_slot then
    local head = redis.call('HMGET', key, slot .. '|count', slot .. '|got', slot .. '|v|' .. index_s)
    read_count, read_got, read_seen = head[1], head[2], head[3]
  end
  local total, got, opened = num(read_count), num(read_got) or 0, 0
  if not total then total, opened = count, 1 end
  -- Branches of one fan-out share its count; an index beyond the first arrival's count is ignored.
  local counted = index < total and not read_seen
  if counted then got = got + 1 end
  if got < total then
    if opened == 1 then
      redis.call('HSET', key, slot .. '|count', count_s, slot .. '|node', join_node, slot .. '|id', join_id,
        slot .. '|attempt', join_attempt, slot .. '|item', prefix, slot .. '|got', int(got))
      redis.call('SADD', rkey('open-joins', run_id), slot)
    else
      redis.call('HSET', key, slot .. '|got', int(got))
    end
    if counted then redis.call('HSET', key, slot .. '|v|' .. index_s, value) end
    return nil, opened
  end
  local fields = {}
  for i = 0, total - 1 do fields[#fields + 1] = slot .. '|v|' .. int(i) end
  local values = redis.call('HMGET', key, unpack(fields))
  if counted then values[index + 1] = value end
  if opened == 0 then
    local stored = redis.call('HMGET', key, slot .. '|id', slot .. '|attempt', slot .. '|item')
    join_id, join_attempt, prefix = stored[1], stored[2], stored[3]
    for _, field in ipairs({ 'count', 'node', 'id', 'attempt', 'item', 'got' }) do
      fields[#fields + 1] = slot .. '|' .. field
    end
    redis.call('HDEL', key, unpack(fields))
    redis.call('SREM', rkey('open-joins', run_id), slot)
  end
  local raw = prefix .. '[' .. table.concat(values, ',') .. ']}'
  return { raw, join_id, join_node, join_attempt }, opened - 1
end
