-- control.lua: pause, resume, cancel, refresh_auth and retry of one job.
-- ARGV[4] job, [5] command, [6] argument (the new UploadAuth for refresh_auth), then
-- the request id. Returns the map status ('ok'|'err'), message. The desired state is
-- written to the job hash and a copy is published on the ctl channel: a worker that
-- misses the message still reads the hash on its next heartbeat.
return once(function()
local job, cmd, arg = ARGV[4], ARGV[5], ARGV[6]
local jk = p .. 'job:' .. job
local h = load(jk, {'state', 'task', 'lane'})
local st, task, lane = h.state, h.task, h.lane
local function answer(status, msg) return {'status', status, 'message', msg} end
if not st then return answer('err', 'no such job: ' .. job) end
local function ctl()
  publish(p .. 'ctl', job .. ' ' .. cmd)
end
local function drop_task()
  if task and lane then
    local tk = p .. 'tasks:' .. lane
    redis.call('XACK', tk, 'workers', task)
    redis.call('XDEL', tk, task)
    redis.call('HDEL', jk, 'task')
  end
end
local held = HELD[st] and task
if (cmd == 'resume' or cmd == 'refresh_auth' or cmd == 'retry') and
    not (lane and string.match(lane, '^[a-z][a-z0-9_]*$')) then
  corrupt(job, jk, 'lane', 'missing or not a lane name')
  return answer('err', 'job hash field lane: missing or not a lane name (sent to the dead letters)')
end

if cmd == 'pause' then
  if st == 'queued' or st == 'delayed' then
    drop_task()
    redis.call('ZREM', p .. 'delayed', job)
    if lane then fair_unready(job, jk, lane) end
    set_state(jk, st, 'paused', 'desired', 'pause')
    emit(job, 'state', 'paused', '{"parked":true}')
    return answer('ok', 'paused')
  elseif held or st == 'paused' or st == 'waiting_auth' then
    redis.call('HSET', jk, 'desired', 'pause', 'updated_at', NOW)
    ctl()
    return answer('ok', 'pausing')
  end
  return answer('err', 'cannot pause a job in state ' .. st)
elseif cmd == 'resume' then
  if st == 'paused' and not task then
    redis.call('HSET', jk, 'desired', 'run')
    requeue(job, jk, st, lane, 'resumed')
    return answer('ok', 'queued')
  elseif held or st == 'waiting_auth' or st == 'queued' or st == 'delayed' then
    redis.call('HSET', jk, 'desired', 'run', 'updated_at', NOW)
    ctl()
    return answer('ok', st == 'waiting_auth' and 'waiting for credentials' or 'resuming')
  end
  return answer('err', 'cannot resume a job in state ' .. st)
elseif cmd == 'cancel' then
  local r = cancel_job(job)
  if not r then return answer('err', 'cannot cancel a job in state ' .. st) end
  return answer('ok', r)
elseif cmd == 'refresh_auth' then
  if ENDED[st] then
    return answer('err', 'cannot refresh the credentials of a job in state ' .. st)
  end
  redis.call('HSET', jk, 'auth', arg, 'updated_at', NOW)
  local v = redis.call('HINCRBY', jk, 'auth_version', 1)
  emit(job, 'auth_refreshed', st, cjson.encode({auth_version = v}))
  if st == 'waiting_auth' and not task then
    requeue(job, jk, st, lane, 'credentials refreshed')
    return answer('ok', 'queued')
  end
  ctl()
  return answer('ok', 'delivered')
elseif cmd == 'retry' then
  if st ~= 'dead' then return answer('err', 'only dead jobs can be retried; this one is ' .. st) end
  if lane == 'group' then
    return answer('err', 'a group is not retried: retry its dead members (' .. job .. '.N)')
  end
  local g = redis.call('HGET', jk, 'group')
  if g and redis.call('HGET', p .. 'job:' .. g, 'state') == 'waiting_members' then
    redis.call('HDEL', p .. 'group:' .. g, job) -- it counts again when it ends again
  end
  redis.call('PERSIST', jk)
  redis.call('HSET', jk, 'attempts', 0, 'desired', 'run')
  redis.call('HDEL', jk, 'finished_at')
  count('retried')
  local s, seq = redis.call('HGET', jk, 'session'), redis.call('HGET', jk, 'session_seq')
  if s and seq and not session_released(s) then
    redis.call('ZADD', session_key(s, ':open'), seq, job)
  end
  requeue(job, jk, st, lane, 'retry')
  return answer('ok', 'queued')
end
return answer('err', 'unknown command: ' .. cmd)
end)
