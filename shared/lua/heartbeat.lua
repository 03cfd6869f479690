-- heartbeat.lua: a worker's heartbeat and lease renewal, once a tick.
-- ARGV[4] worker id, [5] capability JSON, [6] ttl seconds of the worker hash,
-- [7] n, then n x (job, fence, type): the tasks this worker runs.
-- For each task: if the fence still matches, XCLAIM JUSTID resets the entry's idle
-- time (the lease) without raising its delivery count.
-- Returns n x {'ok'|'fenced', desired, auth_version}
local wid = ARGV[4]
redis.call('ZADD', p .. 'workers', NOW, wid)
redis.call('HSET', p .. 'worker:' .. wid, 'info', ARGV[5], 'beat_at', NOW)
redis.call('EXPIRE', p .. 'worker:' .. wid, tonumber(ARGV[6]))
local n = tonumber(ARGV[7])
local out = {}
for i = 0, n - 1 do
  local job, fence, typ = ARGV[8 + i * 3], ARGV[9 + i * 3], ARGV[10 + i * 3]
  local jk = p .. 'job:' .. job
  local h = redis.call('HMGET', jk, 'fence', 'task', 'desired', 'auth_version')
  if h[1] ~= fence or not h[2] then
    out[#out + 1] = {'fenced', h[3] or '', h[4] or '0'}
  else
    redis.call('XCLAIM', p .. 'tasks:' .. typ, 'workers', wid, 0, h[2], 'JUSTID')
    out[#out + 1] = {'ok', h[3] or '', h[4] or '0'}
  end
end
return out
