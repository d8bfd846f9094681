-- Removes a topic, leaving a marker for a day so that a node that missed the
-- announcement tells a removed topic from one Redis lost, and tells the nodes
-- that follow it.
-- KEYS: meta, log, snapshot. ARGV: 1 announce command, 2 channel.
-- Returns 1 when it existed.
local existed = redis.call('HEXISTS', KEYS[1], 'v')
redis.call('DEL', KEYS[1], KEYS[2], KEYS[3])
redis.call('HSET', KEYS[1], 'removed', 1)
redis.call('PEXPIRE', KEYS[1], 86400000)
redis.call(ARGV[1], ARGV[2], 'x')
return existed
