-- promote.lua: move due delayed jobs back to their task stream.
-- ARGV[4] limit. Returns the number moved.
local due = redis.call('ZRANGEBYSCORE', p .. 'delayed', '-inf', NOW, 'LIMIT', 0, tonumber(ARGV[4]))
local n = 0
for _, job in ipairs(due) do
  redis.call('ZREM', p .. 'delayed', job)
  local jk = p .. 'job:' .. job
  local h = redis.call('HMGET', jk, 'state', 'lane')
  if h[1] == 'delayed' then requeue(job, jk, h[2], 'retry') n = n + 1 end
end
return n
