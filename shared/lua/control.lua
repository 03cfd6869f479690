-- control.lua: pause, resume, cancel, refresh_auth and retry of one job.
-- ARGV[4] job, [5] command, [6] argument (the new UploadAuth for refresh_auth).
-- Returns {'ok'|'err', message}. The desired state is written to the job hash
-- and a copy is published on the ctl channel: a worker that misses the message
-- still reads the hash on its next heartbeat.
local job, cmd, arg = ARGV[4], ARGV[5], ARGV[6]
local jk = p .. 'job:' .. job
local h = redis.call('HMGET', jk, 'state', 'task', 'lane', 'desired')
local st, task, typ = h[1], h[2], h[3]
if not st then return {'err', 'no such job: ' .. job} end
local function ctl()
  publish(p .. 'ctl', job .. ' ' .. cmd)
end
local function drop_task()
  if task then
    local tk = p .. 'tasks:' .. typ
    redis.call('XACK', tk, 'workers', task)
    redis.call('XDEL', tk, task)
    redis.call('HDEL', jk, 'task')
  end
end
local held = (st == 'active' or st == 'paused' or st == 'waiting_auth') and task
  and st ~= 'queued'
local parked = (st == 'paused' or st == 'waiting_auth' or st == 'delayed') and not task

if cmd == 'pause' then
  if st == 'queued' or st == 'delayed' then
    drop_task()
    redis.call('ZREM', p .. 'delayed', job)
    redis.call('HSET', jk, 'state', 'paused', 'desired', 'pause', 'updated_at', NOW)
    emit(job, 'state', 'paused', '{"parked":true}')
    return {'ok', 'paused'}
  elseif held or st == 'paused' or st == 'waiting_auth' then
    redis.call('HSET', jk, 'desired', 'pause', 'updated_at', NOW)
    ctl()
    return {'ok', 'pausing'}
  end
  return {'err', 'cannot pause a job in state ' .. st}
elseif cmd == 'resume' then
  if st == 'paused' and not task then
    redis.call('HSET', jk, 'desired', 'run')
    requeue(job, jk, typ, 'resumed')
    return {'ok', 'queued'}
  elseif held or st == 'waiting_auth' or st == 'queued' or st == 'delayed' then
    redis.call('HSET', jk, 'desired', 'run', 'updated_at', NOW)
    ctl()
    return {'ok', st == 'waiting_auth' and 'waiting for credentials' or 'resuming'}
  end
  return {'err', 'cannot resume a job in state ' .. st}
elseif cmd == 'cancel' then
  if st == 'succeeded' or st == 'dead' or st == 'cancelled' or st == 'rejected' then
    return {'err', 'cannot cancel a job in state ' .. st}
  end
  redis.call('HSET', jk, 'desired', 'cancel', 'updated_at', NOW)
  if held then ctl() return {'ok', 'cancelling'} end
  drop_task()
  redis.call('ZREM', p .. 'delayed', job)
  if redis.call('EXISTS', p .. 'ckpt:' .. job) == 1 then
    -- an upload with a multipart upload on the server: a worker must abort it
    requeue(job, jk, typ, 'cancel')
    return {'ok', 'cancelling'}
  end
  redis.call('HSET', jk, 'state', 'cancelled', 'finished_at', NOW, 'updated_at', NOW)
  terminal(jk, 'cancelled')
  emit(job, 'state', 'cancelled', '{}')
  return {'ok', 'cancelled'}
elseif cmd == 'refresh_auth' then
  if st == 'succeeded' or st == 'dead' or st == 'cancelled' or st == 'rejected' then
    return {'err', 'cannot refresh the credentials of a job in state ' .. st}
  end
  redis.call('HSET', jk, 'auth', arg, 'updated_at', NOW)
  local v = redis.call('HINCRBY', jk, 'auth_version', 1)
  emit(job, 'auth_refreshed', st, cjson.encode({auth_version = v}))
  if st == 'waiting_auth' and not task then
    requeue(job, jk, typ, 'credentials refreshed')
    return {'ok', 'queued'}
  end
  ctl()
  return {'ok', 'delivered'}
elseif cmd == 'retry' then
  if st ~= 'dead' then return {'err', 'only dead jobs can be retried; this one is ' .. st} end
  redis.call('PERSIST', jk)
  redis.call('HSET', jk, 'attempts', 0, 'desired', 'run')
  redis.call('HDEL', jk, 'finished_at')
  redis.call('HINCRBY', p .. 'stats', 'retried', 1)
  requeue(job, jk, typ, 'retry')
  return {'ok', 'queued'}
end
return {'err', 'unknown command: ' .. cmd}
