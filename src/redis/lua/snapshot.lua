-- Stores a node's state at a version as the topic's snapshot, if it is newer
-- than the stored one and of the same history, and trims the log to what
-- resuming and rebuilding still need.
-- KEYS: meta, log, snapshot. ARGV: 1 version, 2 the update that made that
-- version, as the node holds it, 3 the state's text, 4 entries kept for
-- resuming, 5 idle expiry in milliseconds ('0': none).
-- Returns 1 when stored, 0 when not needed, -1 when the node's history is not
-- the topic's (it must load the topic again).
local meta = redis.call('HMGET', KEYS[1], 'v', 's')
if not meta[1] then
  return -1
end
local at = tonumber(ARGV[1])
local current = tonumber(meta[1])
if at <= tonumber(meta[2]) then
  return 0
end
if at > current then
  return -1
end
local id = string.format('%d', at) .. '-1'
local entry = redis.call('XRANGE', KEYS[2], id, id)
if not entry[1] or entry[1][2][2] ~= ARGV[2] then
  return -1
end
local bytes = 0
local after = redis.call('XRANGE', KEYS[2], '(' .. id, '+')
for _, later in ipairs(after) do
  bytes = bytes + #later[2][2]
end
redis.call('SET', KEYS[3], ARGV[3])
redis.call('HSET', KEYS[1], 's', ARGV[1], 'sb', #ARGV[3], 'lb', bytes, 'ln', #after)
local keep = math.min(at + 1, math.max(current + 1 - tonumber(ARGV[4]), 0))
redis.call('XTRIM', KEYS[2], 'MINID', string.format('%d', keep))
local ttl = tonumber(ARGV[5])
if ttl > 0 then
  redis.call('PEXPIRE', KEYS[3], ttl)
end
return 1
