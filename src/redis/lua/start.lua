-- Starts a topic's history: a new topic, unless it exists; or, from a node's
-- state at the topic's current version, a history again above every version
-- any node has seen (what a node does when it finds that the history it
-- followed went back: a failover lost changes Redis had acknowledged), so
-- that no version ever means two states.
-- KEYS: meta, log, snapshot. ARGV: 1 announce command, 2 channel, 3 the
-- state's text, 4 the lowest version to start at ('0': the clock's), 5 idle
-- expiry in milliseconds ('0': none), 6 the version the state is at ('' for
-- a new topic).
-- Returns {'ok', version}, or {'exists', version} when the topic exists (a
-- new topic) or is not at that version.
local current = redis.call('HGET', KEYS[1], 'v')
if ARGV[6] == '' then
  if current then
    return {'exists', current}
  end
elseif current ~= ARGV[6] then
  return {'exists', current or '0'}
end
-- The clock's microseconds: above every version an earlier history of the
-- topic reached, unless it published faster than one change a microsecond.
local now = redis.call('TIME')
local version = math.max(
  tonumber(now[1]) * 1000000 + tonumber(now[2]),
  tonumber(ARGV[4]),
  tonumber(current or '0') + 1
)
version = string.format('%d', version)
-- A removed topic's marker, and the log of the history before.
redis.call('DEL', KEYS[1], KEYS[2])
redis.call('HSET', KEYS[1], 'v', version, 's', version, 'b', version, 'sb', #ARGV[3], 'lb', 0, 'ln', 0)
redis.call('SET', KEYS[3], ARGV[3])
local ttl = tonumber(ARGV[5])
if ttl > 0 then
  redis.call('PEXPIRE', KEYS[1], ttl)
  redis.call('PEXPIRE', KEYS[3], ttl)
end
redis.call(ARGV[1], ARGV[2], 'r' .. version)
return {'ok', version}
