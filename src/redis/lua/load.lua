-- A topic as a node loads it: its version, the version its history started
-- at, its snapshot's version and text, and every update after the snapshot,
-- read at one instant.
-- KEYS: meta, log, snapshot. Returns {} for no such topic, else
-- {version, snapshot version, history's first version, snapshot text,
-- update, update, ...}.
local meta = redis.call('HMGET', KEYS[1], 'v', 's', 'b')
if not meta[1] then
  return {}
end
local text = redis.call('GET', KEYS[3])
if not text then
  return {}
end
local reply = {meta[1], meta[2], meta[3] or '0', text}
local entries = redis.call('XRANGE', KEYS[2], string.format('%d', tonumber(meta[2]) + 1), '+')
for _, entry in ipairs(entries) do
  reply[#reply + 1] = entry[2][2]
end
return reply
