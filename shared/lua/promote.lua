-- promote.lua: move due delayed jobs (retries, and jobs submitted with delay_ms/run_at)
-- to their task stream, and run due lane wake-ups (members '#<lane>': fair_wake in
-- common.lua gives back the wake-up tokens a rate limit held, docs/protocol.md §17).
-- ARGV[4] limit, then the request id. Returns the number moved.
return once(function()
local due = redis.call('ZRANGEBYSCORE', p .. 'delayed', '-inf', NOW, 'LIMIT', 0, tonumber(ARGV[4]))
local n = 0
local function promote(job)
  local jk = p .. 'job:' .. job
  local h, bad, why = load(jk, {'state', 'lane:l', 'attempts'})
  if h.state == 'delayed' then
    if bad then corrupt(job, jk, bad, why)
    elseif requeue(job, jk, 'delayed', h.lane,
      int(h.attempts, 0) == 0 and 'scheduled' or 'retry') then n = n + 1 end
  end
end
for _, job in ipairs(due) do
  redis.call('ZREM', p .. 'delayed', job)
  if string.sub(job, 1, 1) == '#' then fair_wake(string.sub(job, 2)) else promote(job) end
end
return n
end)
