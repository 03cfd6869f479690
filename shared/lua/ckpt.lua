-- ckpt.lua: a running task writes or clears its checkpoint (ckpt:<job>), fenced: a
-- worker that lost its lease cannot overwrite the checkpoint of the newer attempt.
-- ARGV[4] job, [5] fence, [6] 'save'|'clear', [7] n, then n x (field, value), then the
-- request id. Returns the map status ('ok'|'fenced').
return once(function()
local job, fence, op = ARGV[4], ARGV[5], ARGV[6]
local jk = p .. 'job:' .. job
local h = load(jk, {'fence', 'state', 'task'})
if h.fence ~= fence or not HELD[h.state] or not h.task then return {'status', 'fenced'} end
local ck = p .. 'ckpt:' .. job
if op == 'clear' then
  redis.call('DEL', ck)
else
  local n = tonumber(ARGV[7])
  for i = 0, n - 1 do redis.call('HSET', ck, ARGV[8 + 2 * i], ARGV[9 + 2 * i]) end
end
return {'status', 'ok'}
end)
