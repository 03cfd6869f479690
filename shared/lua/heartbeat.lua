-- heartbeat.lua: a worker's heartbeat and lease renewal, once a tick.
-- ARGV[4] worker id, [5] capability JSON, [6] ttl seconds of the worker hash,
-- [7] n, then n x (job, fence, lane): the tasks this worker runs, then the request id.
-- For each task: if the fence still matches, XCLAIM JUSTID resets the entry's idle
-- time (the lease) without raising its delivery count.
-- Returns n maps: status ('ok'|'fenced'), desired, auth_version.
return once(function()
local wid = ARGV[4]
redis.call('ZADD', p .. 'workers', NOW, wid)
redis.call('HSET', p .. 'worker:' .. wid, 'info', ARGV[5], 'beat_at', NOW)
redis.call('EXPIRE', p .. 'worker:' .. wid, tonumber(ARGV[6]))
local n = tonumber(ARGV[7])
local out = {}
for i = 0, n - 1 do
  local job, fence, lane = ARGV[8 + i * 3], ARGV[9 + i * 3], ARGV[10 + i * 3]
  local jk = p .. 'job:' .. job
  local h = load(jk, {'fence', 'task', 'desired', 'auth_version'})
  local status = 'ok'
  if h.fence ~= fence or not h.task then
    status = 'fenced'
  else
    redis.call('XCLAIM', p .. 'tasks:' .. lane, 'workers', wid, 0, h.task, 'JUSTID')
  end
  out[#out + 1] = {'status', status, 'desired', h.desired or '', 'auth_version', h.auth_version or '0'}
end
return out
end)
