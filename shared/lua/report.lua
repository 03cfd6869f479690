-- report.lua: a running task reports, fenced.
-- ARGV[4] job, [5] fence, [6] kind 'progress'|'state'|'event', [7] a1, [8] a2
--   progress: a1 percent (0-100), a2 data JSON {"done":..,"total":..,...}
--   state:    a1 new state 'active'|'paused'|'waiting_auth', a2 data JSON
--   event:    a1 event name, a2 data JSON (token_expired also sets waiting_auth)
-- Returns {'ok'|'fenced', desired, auth_version}
local job, fence, kind, a1, a2 = ARGV[4], ARGV[5], ARGV[6], ARGV[7], ARGV[8]
local jk = p .. 'job:' .. job
local h = redis.call('HMGET', jk, 'fence', 'state', 'desired', 'auth_version')
if h[1] ~= fence then return {'fenced', h[3] or '', h[4] or '0'} end
if kind == 'progress' then
  redis.call('HSET', jk, 'progress', a1, 'progress_data', a2, 'updated_at', NOW)
  emit(job, 'progress', h[2], a2)
elseif kind == 'state' then
  if h[2] ~= a1 then
    redis.call('HSET', jk, 'state', a1, 'updated_at', NOW)
    emit(job, 'state', a1, a2)
  end
elseif kind == 'event' then
  local st = h[2]
  if a1 == 'token_expired' and st ~= 'waiting_auth' then
    st = 'waiting_auth'
    redis.call('HSET', jk, 'state', st, 'updated_at', NOW)
    emit(job, 'state', st, '{}')
  end
  emit(job, a1, st, a2)
end
return {'ok', h[3] or '', h[4] or '0'}
