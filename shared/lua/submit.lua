-- submit.lua: create a validated (or rejected) job and push its first task.
-- ARGV[4] id, [5] type, [6] spec JSON, [7] state 'queued'|'rejected', [8] error,
-- [9] max_attempts, [10] timeout_ms, [11] backoff_base_ms, [12] backoff_max_ms,
-- [13] session, [14] submit stream entry id to ack ('' if none), [15] lane (task stream).
-- Returns 'dup' when a job with this id already exists past 'submitted'.
local id, typ, spec, st, errmsg = ARGV[4], ARGV[5], ARGV[6], ARGV[7], ARGV[8]
local session, entry = ARGV[13], ARGV[14]
local lane = ARGV[15] ~= '' and ARGV[15] or typ
local jk = p .. 'job:' .. id
local function ack()
  if entry ~= '' then
    redis.call('XACK', p .. 'submit', 'schedulers', entry)
    redis.call('XDEL', p .. 'submit', entry)
  end
end
local cur = redis.call('HGET', jk, 'state')
if cur and cur ~= 'submitted' then ack() return 'dup' end
local created = redis.call('HGET', jk, 'created_at') or tostring(NOW)
redis.call('HSET', jk, 'id', id, 'type', typ, 'lane', lane, 'state', st, 'spec', spec, 'error', errmsg,
  'error_code', st == 'rejected' and 'invalid' or '', 'max_attempts', ARGV[9],
  'timeout_ms', ARGV[10], 'backoff_base_ms', ARGV[11], 'backoff_max_ms', ARGV[12],
  'session', session, 'attempts', 0, 'fence', 0, 'desired', 'run', 'progress', 0,
  'auth_version', 0, 'submit_entry', entry, 'created_at', created, 'updated_at', NOW)
redis.call('HINCRBY', p .. 'stats', 'submitted', 1)
if st == 'queued' then
  local tid = redis.call('XADD', p .. 'tasks:' .. lane, '*', 'job', id)
  redis.call('HSET', jk, 'task', tid)
  if session ~= '' then
    local sk = p .. 'session:' .. session
    redis.call('HSETNX', sk, 'created_at', NOW)
    redis.call('HSET', sk, 'last_job', id, 'updated_at', NOW)
    redis.call('HINCRBY', sk, 'jobs', 1)
  end
  emit(id, 'state', 'queued', '{}')
else
  terminal(jk, 'rejected')
  emit(id, 'state', 'rejected', cjson.encode({code = 'invalid', error = errmsg}))
end
ack()
return st
