-- Fan-in: branch arrivals at a join. Needs `base`, `items`.
--
-- One join slot per (fan-out frame, join node) lives in the run's joins HASH under fields
-- `<slot>|count|node|id|attempt|item|got` and `<slot>|v|<index>`; open slots are in the run's
-- open-joins SET (for JoinIncomplete). codec.ts guarantees 0 <= index < count, so once `count`
-- distinct indexes arrived, they are exactly 0..count-1.

-- The run's count of open join slots, which spares settle() a SMEMBERS. Runs created before the
-- counter have no field: they keep none (settle reads the set for them).
local function count_open_joins(run_id, by)
  local run_key = rkey('run', run_id)
  if redis.call('HEXISTS', run_key, 'openJoins') == 1 then redis.call('HINCRBY', run_key, 'openJoins', by) end
end

-- Records one arrival (the first per index wins); when `count` have arrived, enqueues the join
-- item once, its input the arrived values ordered by index.
local function arrive(run_id, run_status, frame_id, index, count, value, join_node, join_id, join_attempt, prefix)
  local key = rkey('joins', run_id)
  local slot = frame_id .. '>' .. join_node
  if redis.call('HSETNX', key, slot .. '|count', count) == 1 then
    redis.call('HSET', key, slot .. '|node', join_node, slot .. '|id', join_id, slot .. '|attempt', join_attempt,
      slot .. '|item', prefix, slot .. '|got', 0)
    redis.call('SADD', rkey('open-joins', run_id), slot)
    count_open_joins(run_id, 1)
  end
  -- Branches of one fan-out share its count; an index beyond the first arrival's count is ignored.
  local in_range = index < tonumber(redis.call('HGET', key, slot .. '|count'))
  if in_range and redis.call('HSETNX', key, slot .. '|v|' .. index, value) == 1 then
    redis.call('HINCRBY', key, slot .. '|got', 1)
  end
  local head = redis.call('HMGET', key, slot .. '|got', slot .. '|count', slot .. '|id', slot .. '|attempt',
    slot .. '|item')
  local total = tonumber(head[2])
  if tonumber(head[1]) < total then return end
  local values = {}
  for i = 0, total - 1 do
    local field = slot .. '|v|' .. i
    values[#values + 1] = redis.call('HGET', key, field)
    redis.call('HDEL', key, field)
  end
  redis.call('HDEL', key, slot .. '|count', slot .. '|node', slot .. '|id', slot .. '|attempt', slot .. '|item',
    slot .. '|got')
  redis.call('SREM', rkey('open-joins', run_id), slot)
  count_open_joins(run_id, -1)
  push_item(run_id, run_status, head[5] .. '[' .. table.concat(values, ',') .. ']}', head[3], join_node,
    tonumber(head[4]))
end
