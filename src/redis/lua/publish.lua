-- Numbers and appends one change to a topic, atomically.
-- KEYS: meta (hash), log (stream), snapshot (string), all of one topic.
-- ARGV: 1 announce command (PUBLISH or SPUBLISH), 2 channel,
--       3 expected version ('' for a change that does not depend on the state),
--       4 the update's text without its number: '{"merge":...}',
--       5 entries kept for resuming, 6 bytes of log that make a snapshot due
--       at the least, 7 idle expiry in milliseconds ('0': none).
-- Returns {'ok', version, due, the update as numbered}, {'stale', version}
-- or {'unknown'}.
local current = redis.call('HGET', KEYS[1], 'v')
if not current then
  return {'unknown'}
end
if ARGV[3] ~= '' and ARGV[3] ~= current then
  return {'stale', current}
end
local version = string.format('%d', tonumber(current) + 1)
local update = '{"seq":' .. version .. ',' .. string.sub(ARGV[4], 2)
local snapshot = tonumber(redis.call('HGET', KEYS[1], 's'))
-- Resumable entries, and every entry after the snapshot: a joining node
-- rebuilds the state from the snapshot and those.
local keep = math.min(snapshot + 1, math.max(tonumber(version) + 1 - tonumber(ARGV[5]), 0))
redis.call('XADD', KEYS[2], 'MINID', string.format('%d', keep), version .. '-1', 'u', update)
redis.call('HSET', KEYS[1], 'v', version)
local bytes = redis.call('HINCRBY', KEYS[1], 'lb', #update)
local entries = redis.call('HINCRBY', KEYS[1], 'ln', 1)
local ttl = tonumber(ARGV[7])
if ttl > 0 then
  redis.call('PEXPIRE', KEYS[1], ttl)
  redis.call('PEXPIRE', KEYS[2], ttl)
  redis.call('PEXPIRE', KEYS[3], ttl)
end
redis.call(ARGV[1], ARGV[2], 'u' .. update)
local snapshot_bytes = tonumber(redis.call('HGET', KEYS[1], 'sb'))
local due = '0'
if bytes > math.max(snapshot_bytes, tonumber(ARGV[6])) or entries > tonumber(ARGV[5]) then
  due = '1'
end
return {'ok', version, due, update}
