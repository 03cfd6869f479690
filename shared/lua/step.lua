-- step.lua: a worker's one round trip: finish the tasks its slots completed, then
-- claim and start up to N new ones (non-blocking XREADGROUP inside the script).
-- ARGV[4] consumer (worker id), [5] task type, [6] claim count,
-- [7] k = number of entry ids already read by a blocking XREADGROUP, then k ids,
-- then m = number of finished tasks, then 8 fields each:
--   job, fence, outcome ('ok'|'fail'|'cancelled'|'handback'), a1..a5
--   ok:       a1 result JSON, a2 export path ('' if none)
--   fail:     a1 error code, a2 message, a3 '1' if retryable, a4 jitter in [0,1)
--   handback: a1 target 'queued'|'paused'|'waiting_auth', a2 auth_version seen
-- Returns { {status per finished task}, {task...} } where task =
--   {job, entry, fence, attempts, spec, timeout_ms, desired, auth_version, session, last_export}
local consumer, typ = ARGV[4], ARGV[5]
local WORKER_JSON = cjson.encode(consumer)
local skey = p .. 'tasks:' .. typ
local want = tonumber(ARGV[6])
local k = tonumber(ARGV[7])
local m = tonumber(ARGV[8 + k])

-- "then": the jobs a successful job creates (compose -> upload of its export).
-- Child i gets id <job>.then<i>, the parent's session, and, for an upload
-- without "file", the parent's output ("$cover" = the parent's cover image).
local function chain(job, jk, h, result, output)
  local text = h[11] or ''
  if not string.find(text, '"then"', 1, true) then return end
  local okj, spec = pcall(cjson.decode, text)
  if not okj or type(spec) ~= 'table' or type(spec['then']) ~= 'table' then return end
  local okr, res = pcall(cjson.decode, result ~= '' and result or '{}')
  local cover = (okr and type(res) == 'table' and type(res.cover) == 'string') and res.cover or ''
  for i, child in ipairs(spec['then']) do
    local cid = job .. '.then' .. i
    local ck = p .. 'job:' .. cid
    if redis.call('EXISTS', ck) == 0 and type(child) == 'table' then
      child.id = cid
      if h[6] and h[6] ~= '' then child.session = h[6] end
      local sec = child[child.type]
      if child.type == 'upload' and type(sec) == 'table' then
        if sec.file == nil and output ~= '' then sec.file = output end
        if sec.file == '$cover' then sec.file = cover end
      end
      local tid = redis.call('XADD', p .. 'tasks:' .. child.type, '*', 'job', cid)
      redis.call('HSET', ck, 'id', cid, 'type', child.type, 'lane', child.type, 'state', 'queued',
        'spec', cjson.encode(child), 'error', '', 'error_code', '',
        'max_attempts', tostring(child.max_attempts or redis.call('HGET', jk, 'max_attempts')),
        'timeout_ms', tostring(child.timeout_ms or 0),
        'backoff_base_ms', tostring(type(child.backoff) == 'table' and child.backoff.base_ms or h[7]),
        'backoff_max_ms', tostring(type(child.backoff) == 'table' and child.backoff.max_ms or h[8]), 'session', h[6] or '', 'attempts', 0, 'fence', 0,
        'desired', 'run', 'progress', 0, 'auth_version', 0, 'parent', job, 'task', tid,
        'created_at', NOW, 'updated_at', NOW)
      redis.call('HINCRBY', p .. 'stats', 'submitted', 1)
      emit(cid, 'state', 'queued', cjson.encode({parent = job}))
    end
  end
end

local function finish(job, fence, outcome, a1, a2, a3, a4)
  local jk = p .. 'job:' .. job
  local h = redis.call('HMGET', jk, 'fence', 'task', 'lane', 'attempts', 'max_attempts',
    'session', 'backoff_base_ms', 'backoff_max_ms', 'desired', 'auth_version', 'spec')
  if h[1] ~= fence then return 'fenced' end
  local tk = p .. 'tasks:' .. h[3]
  if h[2] then
    redis.call('XACK', tk, 'workers', h[2])
    redis.call('XDEL', tk, h[2])
    redis.call('HDEL', jk, 'task')
  end
  if outcome == 'ok' then
    redis.call('HSET', jk, 'state', 'succeeded', 'result', a1, 'progress', 100,
      'finished_at', NOW, 'updated_at', NOW, 'error', '', 'error_code', '', 'desired', 'run')
    if a2 ~= '' and h[6] and h[6] ~= '' then
      local sk = p .. 'session:' .. h[6]
      local v = redis.call('HINCRBY', sk, 'export_version', 1)
      redis.call('HSET', sk, 'last_export', a2, 'last_export_job', job, 'updated_at', NOW)
    end
    terminal(jk, 'succeeded')
    emit(job, 'state', 'succeeded', a1 ~= '' and a1 or '{}')
    chain(job, jk, h, a1, a2)
  elseif outcome == 'fail' then
    local att, max = tonumber(h[4]), tonumber(h[5])
    redis.call('HSET', jk, 'error_code', a1, 'error', a2, 'updated_at', NOW)
    if a3 == '1' and att < max and h[9] ~= 'cancel' then
      local base, cap = tonumber(h[7]), tonumber(h[8])
      local d = math.min(base * 2 ^ (att - 1), cap)
      d = math.floor(d / 2 + d / 2 * tonumber(a4))
      redis.call('HSET', jk, 'state', 'delayed', 'retry_at', NOW + d)
      redis.call('ZADD', p .. 'delayed', NOW + d, job)
      emit(job, 'state', 'delayed', cjson.encode({code = a1, error = a2, attempt = att, retry_in_ms = d}))
    else
      dead(job, jk, a1, a2, att)
    end
  elseif outcome == 'cancelled' then
    redis.call('HSET', jk, 'state', 'cancelled', 'finished_at', NOW, 'updated_at', NOW)
    redis.call('DEL', p .. 'ckpt:' .. job)
    terminal(jk, 'cancelled')
    emit(job, 'state', 'cancelled', '{}')
  elseif outcome == 'handback' then
    redis.call('HINCRBY', jk, 'attempts', -1)
    redis.call('HINCRBY', jk, 'fence', 1)
    local target = a1
    if h[9] == 'pause' and target == 'queued' then target = 'paused' end
    if h[9] == 'cancel' then target = 'queued' end
    if target == 'waiting_auth' and tonumber(h[10] or '0') > tonumber(a2 ~= '' and a2 or '0') then
      target = 'queued' -- credentials arrived meanwhile
    end
    if target == 'queued' then
      requeue(job, jk, h[3], 'handed back')
    else
      redis.call('HSET', jk, 'state', target, 'updated_at', NOW)
      emit(job, 'state', target, '{"parked":true}')
    end
  end
  return 'ok'
end

local statuses = {}
local base = 8 + k
for i = 0, m - 1 do
  local o = base + 1 + i * 8
  statuses[#statuses + 1] = finish(ARGV[o], ARGV[o + 1], ARGV[o + 2], ARGV[o + 3],
    ARGV[o + 4], ARGV[o + 5], ARGV[o + 6])
end

local tasks = {}
local function start(eid, fields)
  if not fields then redis.call('XACK', skey, 'workers', eid) return end
  local job
  for i = 1, #fields, 2 do if fields[i] == 'job' then job = fields[i + 1] end end
  local function drop() redis.call('XACK', skey, 'workers', eid) redis.call('XDEL', skey, eid) end
  if not job then drop() return end
  local jk = p .. 'job:' .. job
  local h = redis.call('HMGET', jk, 'state', 'task', 'desired', 'spec', 'timeout_ms',
    'auth_version', 'session', 'fence', 'attempts')
  if not h[1] or h[2] ~= eid or h[1] ~= 'queued' then drop() return end
  if h[3] == 'pause' then
    drop()
    redis.call('HDEL', jk, 'task')
    redis.call('HSET', jk, 'state', 'paused', 'updated_at', NOW)
    emit(job, 'state', 'paused', '{"parked":true}')
    return
  end
  if h[3] == 'cancel' and redis.call('EXISTS', p .. 'ckpt:' .. job) == 0 then
    drop()
    redis.call('HDEL', jk, 'task')
    redis.call('HSET', jk, 'state', 'cancelled', 'finished_at', NOW, 'updated_at', NOW)
    terminal(jk, 'cancelled')
    emit(job, 'state', 'cancelled', '{}')
    return
  end
  local fence = tonumber(h[8] or '0') + 1
  local att = tonumber(h[9] or '0') + 1
  redis.call('HSET', jk, 'state', 'active', 'worker', consumer, 'started_at', NOW, 'updated_at', NOW,
    'progress', 0, 'fence', fence, 'attempts', att)
  emit(job, 'state', 'active', '{"attempt":' .. att .. ',"worker":' .. WORKER_JSON .. '}')
  local last = ''
  if h[7] and h[7] ~= '' then
    last = redis.call('HGET', p .. 'session:' .. h[7], 'last_export') or ''
  end
  tasks[#tasks + 1] = {job, eid, tostring(fence), tostring(att), h[4] or '', h[5] or '0',
    h[3] or 'run', h[6] or '0', h[7] or '', last}
end

for i = 1, k do
  local r = redis.call('XRANGE', skey, ARGV[7 + i], ARGV[7 + i])
  if #r == 1 then start(r[1][1], r[1][2]) else redis.call('XACK', skey, 'workers', ARGV[7 + i]) end
end
if want > 0 then
  local r = redis.call('XREADGROUP', 'GROUP', 'workers', consumer, 'COUNT', want, 'STREAMS', skey, '>')
  if r then
    for _, e in ipairs(r[1][2]) do start(e[1], e[2]) end
  end
end
return {statuses, tasks}
