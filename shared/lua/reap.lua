-- reap.lua: a worker whose heartbeat stopped: requeue its tasks at once, then
-- delete its consumer (it has nothing pending any more) and its record.
-- ARGV[4] worker id, [5] scheduler consumer, [6] n lanes, then the lane names, then the
-- request id. Returns the number of tasks requeued.
return once(function()
local wid, me = ARGV[4], ARGV[5]
local n = 0
for i = 1, tonumber(ARGV[6]) do
  local skey = p .. 'tasks:' .. ARGV[6 + i]
  if redis.call('EXISTS', skey) == 1 then
    local ok, pend = pcall(redis.call, 'XPENDING', skey, 'workers', '-', '+', 1000, wid)
    if ok then
      for _, e in ipairs(pend) do
        local c = redis.call('XCLAIM', skey, 'workers', me, 0, e[1])
        if #c == 1 and c[1] then n = n + stalled(skey, c[1][1], c[1][2], 'worker ' .. wid .. ' stopped')
        else redis.call('XACK', skey, 'workers', e[1]) end
      end
      pcall(redis.call, 'XGROUP', 'DELCONSUMER', skey, 'workers', wid)
    end
  end
end
redis.call('ZREM', p .. 'workers', wid)
redis.call('DEL', p .. 'worker:' .. wid)
return n
end)
