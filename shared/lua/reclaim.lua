-- reclaim.lua: requeue task entries idle past the lease (XAUTOCLAIM).
-- ARGV[4] lane, [5] consumer (the scheduler), [6] min idle ms, [7] count, [8] cursor,
-- then the request id. Returns {next cursor, requeued}
return once(function()
local skey = p .. 'tasks:' .. ARGV[4]
local r = redis.call('XAUTOCLAIM', skey, 'workers', ARGV[5], ARGV[6], ARGV[8], 'COUNT', ARGV[7])
local n = 0
for _, e in ipairs(r[2]) do
  if e then n = n + stalled(skey, e[1], e[2], 'lease expired') end
end
return {r[1], n}
end)
