-- promote.lua: move due delayed jobs (retries, and jobs submitted with delay_ms/run_at)
-- to their task stream.
-- ARGV[4] limit, then the request id. Returns the number moved.
return once(function()
local due = redis.call('ZRANGEBYSCORE', p .. 'delayed', '-inf', NOW, 'LIMIT', 0, tonumber(ARGV[4]))
local n = 0
for _, job in ipairs(due) do
  redis.call('ZREM', p .. 'delayed', job)
  local jk = p .. 'job:' .. job
  local h, bad, why = load(jk, {'state', 'lane:l', 'attempts'})
  if h.state == 'delayed' then
    if bad then corrupt(job, jk, bad, why)
    elseif requeue(job, jk, 'delayed', h.lane,
      int(h.attempts, 0) == 0 and 'scheduled' or 'retry') then n = n + 1 end
  end
end
return n
end)
