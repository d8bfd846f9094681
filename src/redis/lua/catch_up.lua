-- The updates after a version a node holds, if the log still has them all.
-- KEYS: meta, log. ARGV: 1 the node's version, 2 the most to return.
-- Returns {} when Redis has no such topic (lost, or never made), {'x'} when
-- it was removed, {version} when the log no longer holds the
-- next update (or the topic's history went back: load it again), else
-- {version, update, update, ...}.
local current = redis.call('HGET', KEYS[1], 'v')
if not current then
  if redis.call('EXISTS', KEYS[1]) == 1 then
    return {'x'}
  end
  return {}
end
local from = tonumber(ARGV[1]) + 1
if tonumber(current) < from - 1 then
  return {current}
end
local entries = redis.call('XRANGE', KEYS[2], string.format('%d', from), '+', 'COUNT', tonumber(ARGV[2]))
local reply = {current}
if tonumber(current) >= from then
  local first = entries[1]
  if not first or first[1] ~= string.format('%d', from) .. '-1' then
    return reply
  end
end
for _, entry in ipairs(entries) do
  reply[#reply + 1] = entry[2][2]
end
return reply
