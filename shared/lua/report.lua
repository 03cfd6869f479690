-- report.lua: a running task reports, fenced.
-- ARGV[4] job, [5] fence, [6] kind 'progress'|'state'|'event', [7] a1, [8] a2, then the
-- request id.
--   progress: a1 percent (0-100), a2 data JSON {"done":..,"total":..,...}
--   state:    a1 new state 'active'|'paused'|'waiting_auth', a2 data JSON
--   event:    a1 event name, a2 data JSON (token_expired also sets waiting_auth)
-- Returns the map status ('ok'|'fenced'), desired, auth_version.
return once(function()
local job, fence, kind, a1, a2 = ARGV[4], ARGV[5], ARGV[6], ARGV[7], ARGV[8]
local jk = p .. 'job:' .. job
local h = load(jk, {'fence', 'state', 'desired', 'auth_version', 'task'})
local function answer(status)
  return {'status', status, 'desired', h.desired or '', 'auth_version', h.auth_version or '0'}
end
if h.fence ~= fence or not HELD[h.state] or not h.task then return answer('fenced') end
if kind == 'progress' then
  redis.call('HSET', jk, 'progress', a1, 'progress_data', a2, 'updated_at', NOW)
  emit(job, 'progress', h.state, a2)
elseif kind == 'state' then
  if h.state ~= a1 and HELD[a1] and set_state(jk, h.state, a1) then
    emit(job, 'state', a1, a2)
  end
elseif kind == 'event' then
  local st = h.state
  if a1 == 'token_expired' and st ~= 'waiting_auth' and set_state(jk, st, 'waiting_auth') then
    st = 'waiting_auth'
    emit(job, 'state', st, '{}')
  end
  emit(job, a1, st, a2)
end
return answer('ok')
end)
