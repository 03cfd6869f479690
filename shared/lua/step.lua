-- step.lua: a worker's one round trip: finish the tasks its slots completed, then
-- claim and start up to N new ones (non-blocking XREADGROUP inside the script).
-- ARGV[4] consumer (worker id), [5] lane (task stream), [6] claim count,
-- [7] k = number of entry ids already read by a blocking XREADGROUP, then k ids,
-- then m = number of finished tasks, then 8 fields each:
--   job, fence, outcome ('ok'|'fail'|'cancelled'|'handback'), a1..a5
--   ok:       a1 result JSON, a2 export path ('' if none)
--   fail:     a1 error code, a2 message, a3 '1' if retryable, a4 jitter in [0,1)
--   handback: a1 target 'queued'|'paused'|'waiting_auth', a2 auth_version seen
-- then the worker's capability tags ("a,b,c"), then the request id (common.lua).
-- A job whose "require" tags are not all among the worker's is not started: its entry
-- goes to the end of the stream for another worker (counted in the job's "skips").
-- Returns { {status per finished task}, {task map...} }: a status is 'ok', 'fenced' (a
-- newer attempt owns the job), 'done' (already finished by this attempt: a replay),
-- 'gone' (no such job), 'corrupt' (sent to the dead letters) or 'bad outcome'; a task
-- map is the flat list job, entry, fence, attempt, spec, then those of timeout_ms,
-- desired, auth_version, session, export, max_attempts that differ from their defaults
-- (0, run, 0, '', '', 0), decoded by vodq_proto_task_decode in shared/proto.c.
--
-- The answer kept for a replay (once()) is compact, not JSON: the statuses, then job,
-- entry, fence and attempt of each task, tab-separated (ids and statuses hold no tab);
-- a replay reads the rest of each task map from the job hash again.
local STEP_REST = {'spec', 'timeout_ms', 'desired', 'auth_version', 'session', 'export',
  'max_attempts'}

-- the optional fields of a task map and their defaults (left out when equal)
local TASK_OPT = {'timeout_ms', '0', 'desired', 'run', 'auth_version', '0', 'session', '',
  'export', '', 'max_attempts', '0'}
-- the task map of a started job: h holds the STEP_REST fields of its hash
local function task_map(job, eid, fence, att, h)
  local m = {'job', job, 'entry', eid, 'fence', fence, 'attempt', att, 'spec', h.spec or ''}
  local n = 10
  for i = 1, #TASK_OPT, 2 do
    local k = TASK_OPT[i]
    local v = h[k]
    if v and v ~= TASK_OPT[i + 1] then m[n + 1] = k m[n + 2] = v n = n + 2 end
  end
  return m
end

local function step_pack(r)
  local out = {tostring(#r[1])}
  for _, st in ipairs(r[1]) do out[#out + 1] = st end
  for _, t in ipairs(r[2]) do
    out[#out + 1] = t[2] out[#out + 1] = t[4] out[#out + 1] = t[6] out[#out + 1] = t[8]
  end
  return table.concat(out, '\t')
end

local function step_unpack(text)
  local f = {}
  for x in string.gmatch(text, '[^\t]+') do f[#f + 1] = x end
  local n = tonumber(f[1]) or 0
  local statuses, tasks = {}, {}
  for i = 1, n do statuses[i] = f[1 + i] end
  for i = n + 2, #f - 3, 4 do
    local job = f[i]
    local h = load(p .. 'job:' .. job, STEP_REST)
    tasks[#tasks + 1] = task_map(job, f[i + 1], f[i + 2], f[i + 3], h)
  end
  return {statuses, tasks}
end

return once(function()
local consumer, lane = ARGV[4], ARGV[5]
local WORKER_JSON = cjson.encode(consumer)
local skey = p .. 'tasks:' .. lane
local want = tonumber(ARGV[6])
local k = tonumber(ARGV[7])
local m = tonumber(ARGV[8 + k])
local TAGS = {}
for tag in string.gmatch(ARGV[9 + k + m * 8] or '', '[^,]+') do TAGS[tag] = true end
local function fits(req)
  if not req then return true end
  for tag in string.gmatch(req, '[^,]+') do if not TAGS[tag] then return false end end
  return true
end

-- The retry delay after failed attempt `att` (1-based): exponential from base, capped,
-- with the upper half jittered. The only copy of the formula.
local function backoff(att, base, cap, jitter)
  if att < 1 then att = 1 end
  if jitter < 0 then jitter = 0 elseif jitter >= 1 then jitter = 0.999999 end
  local d = math.min(base * 2 ^ (att - 1), cap)
  return math.floor(d / 2 + d / 2 * jitter)
end

-- "then": the jobs a successful job creates (compose -> upload of its export).
-- Child i gets id <job>.then<i>, the parent's session, and, for an upload without
-- "file", the parent's output ("$cover" = the parent's cover image). Its lane was
-- chosen when the parent's spec was validated (field "lane" of the child).
local function chain(job, h, result, output)
  local text = h.spec or ''
  if not string.find(text, '"then"', 1, true) then return end
  local okj, spec = pcall(cjson.decode, text)
  if not okj or type(spec) ~= 'table' or type(spec['then']) ~= 'table' then return end
  local okr, res = pcall(cjson.decode, result ~= '' and result or '{}')
  local cover = (okr and type(res) == 'table' and type(res.cover) == 'string') and res.cover or ''
  for i, child in ipairs(spec['then']) do
    if type(child) == 'table' and type(child.type) == 'string' then
      -- a child keeps the parent's tenant and priority unless it names its own
      if child.tenant == nil then child.tenant = spec.tenant end
      if child.priority == nil then child.priority = spec.priority end
      local sec = child[child.type]
      if child.type == 'upload' and type(sec) == 'table' then
        if sec.file == nil and output ~= '' then sec.file = output end
        if sec.file == '$cover' then sec.file = cover end
      end
    end
    spawn(job .. '.then' .. i, child, job, h.session or '', h) -- common.lua, as for groups
  end
end

-- What finish() reads of a job hash, in one HMGET into one table constructor (sized
-- once: building it field by field cost more than the HMGET). type, notify_url and group
-- are what terminal() needs; session_seq, which only a job of a session has, terminal()
-- reads when there is one; fair_held marks a job started under a fair lane's token.
local function fin_read(jk)
  local v = redis.call('HMGET', jk, 'fence', 'state', 'task', 'lane', 'attempts',
    'max_attempts', 'backoff_base_ms', 'backoff_max_ms', 'session', 'desired', 'auth_version',
    'spec', 'type', 'notify_url', 'group', 'fair_held')
  return {fence = v[1] or nil, state = v[2] or nil, task = v[3] or nil, lane = v[4] or nil,
    attempts = v[5] or nil, max_attempts = v[6] or nil, backoff_base_ms = v[7] or nil,
    backoff_max_ms = v[8] or nil, session = v[9] or nil, desired = v[10] or nil,
    auth_version = v[11] or nil, spec = v[12] or nil, type = v[13] or nil,
    notify_url = v[14] or nil, group = v[15] or nil, fair_held = v[16] or nil}
end
local FIN_CHECK = compiled('step.fin', {'fence:i', 'state:s', 'lane:l', 'attempts:i',
  'max_attempts:i', 'backoff_base_ms:i', 'backoff_max_ms:i', 'type:s'})

-- Task entries of finished jobs, acknowledged once per stream after the finish loop. They
-- are not XDELed: Redis 7.0's XDEL costs ~30k instructions per entry even batched (it
-- rewrites the node's listpack and, for a stream's first entry, scans the deleted ones
-- to find the new first id), more than the rest of a job's finish. The scheduler trims
-- acknowledged entries in whole nodes (XTRIM MINID ~, docs/protocol.md §3).
local ENDED_ENTRIES = {} -- stream key -> {entry ids}

local function finish(job, fence, outcome, a1, a2, a3, a4)
  local jk = p .. 'job:' .. job
  local h = fin_read(jk)
  if not h.state and not h.fence and not h.lane then return 'gone' end
  local bad, why = bad_field(h, FIN_CHECK)
  if bad then corrupt(job, jk, bad, why) return 'corrupt' end
  if h.fence ~= fence then return 'fenced' end
  if not HELD[h.state] then return 'done' end
  if outcome ~= 'ok' and outcome ~= 'fail' and outcome ~= 'cancelled' and
      outcome ~= 'handback' then
    return 'bad outcome'
  end
  local tk = p .. 'tasks:' .. h.lane
  if h.task then
    local ids = ENDED_ENTRIES[tk]
    if not ids then ids = {} ENDED_ENTRIES[tk] = ids end
    ids[#ids + 1] = h.task
    -- a job that succeeded keeps its last (acknowledged) entry id in `task`: it is
    -- ended, so nothing reads it as a lease any more (one HDEL less per job)
    if outcome ~= 'ok' then redis.call('HDEL', jk, 'task') end
  end
  if h.fair_held then fair_release(jk, h.lane, h.task) end
  if outcome == 'ok' then
    if h.desired == 'run' then
      set_state(jk, h.state, 'succeeded', 'result', a1, 'progress', '100', 'finished_at', NOWS,
        'error', '', 'error_code', '')
    else
      set_state(jk, h.state, 'succeeded', 'result', a1, 'progress', '100', 'finished_at', NOWS,
        'error', '', 'error_code', '', 'desired', 'run')
    end
    terminal(job, jk, 'succeeded', a2, h)
    emit(job, 'state', 'succeeded', a1 ~= '' and a1 or '{}')
    chain(job, h, a1, a2)
  elseif outcome == 'fail' then
    local att, max = tonumber(h.attempts), tonumber(h.max_attempts)
    redis.call('HSET', jk, 'error_code', a1, 'error', a2)
    if a3 == '1' and att < max and h.desired ~= 'cancel' then
      local d = backoff(att, tonumber(h.backoff_base_ms), tonumber(h.backoff_max_ms),
        tonumber(a4) or 0)
      set_state(jk, h.state, 'delayed', 'retry_at', NOW + d)
      redis.call('ZADD', p .. 'delayed', NOW + d, job)
      emit(job, 'state', 'delayed', cjson.encode({code = a1, error = a2, attempt = att, retry_in_ms = d}))
    else
      dead(job, jk, h.state, a1, a2, att)
    end
  elseif outcome == 'cancelled' then
    redis.call('DEL', p .. 'ckpt:' .. job)
    cancelled(job, jk, h.state)
  else -- handback
    redis.call('HSET', jk, 'attempts', tonumber(h.attempts) - 1, 'fence', tonumber(h.fence) + 1)
    local target = a1
    if h.desired == 'pause' and target == 'queued' then target = 'paused' end
    if h.desired == 'cancel' then target = 'queued' end
    if target == 'waiting_auth' and int(h.auth_version, 0) > int(a2, 0) then
      target = 'queued' -- credentials arrived meanwhile
    end
    if target == 'queued' then
      requeue(job, jk, h.state, h.lane, 'handed back')
    elseif set_state(jk, h.state, target) then
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
for tk, ids in pairs(ENDED_ENTRIES) do
  redis.call('XACK', tk, 'workers', unpack(ids))
end

-- What start() reads of a queued job's hash (as fin_read)
local function start_read(jk)
  local v = redis.call('HMGET', jk, 'state', 'task', 'desired', 'spec', 'timeout_ms',
    'auth_version', 'session', 'fence', 'attempts', 'export', 'require', 'max_attempts')
  return {state = v[1] or nil, task = v[2] or nil, desired = v[3] or nil, spec = v[4] or nil,
    timeout_ms = v[5] or nil, auth_version = v[6] or nil, session = v[7] or nil,
    fence = v[8] or nil, attempts = v[9] or nil, export = v[10] or nil, require = v[11] or nil,
    max_attempts = v[12] or nil}
end
local START_CHECK = compiled('step.start', {'state:s', 'spec:s', 'fence:i', 'attempts:i'})
local tasks = {}
local function drop(eid) redis.call('XACK', skey, 'workers', eid) end
local function start(eid, fields)
  if not fields then redis.call('XACK', skey, 'workers', eid) return end
  local job, ften
  for i = 1, #fields, 2 do if fields[i] == 'job' then job = fields[i + 1] end end
  if not job then job, ften = fair_claim(lane, eid, fields) end -- a wake-up token (§17)
  if not job then drop(eid) return end
  local jk = p .. 'job:' .. job
  local h = start_read(jk)
  if h.task ~= eid then drop(eid) return end
  local bad, why = bad_field(h, START_CHECK)
  if bad then drop(eid) corrupt(job, jk, bad, why) return end
  if h.state ~= 'queued' then drop(eid) return end
  if h.desired == 'run' and not fits(h.require) then
    drop(eid)
    local tid = redis.call('XADD', skey, '*', 'job', job)
    redis.call('HSET', jk, 'task', tid)
    redis.call('HINCRBY', jk, 'skips', 1)
    return
  end
  if h.desired == 'pause' then
    drop(eid)
    redis.call('HDEL', jk, 'task')
    set_state(jk, 'queued', 'paused')
    emit(job, 'state', 'paused', '{"parked":true}')
    return
  end
  if h.desired == 'cancel' and redis.call('EXISTS', p .. 'ckpt:' .. job) == 0 then
    drop(eid)
    redis.call('HDEL', jk, 'task')
    cancelled(job, jk, 'queued')
    return
  end
  local fence = string.format('%d', tonumber(h.fence) + 1)
  local att = string.format('%d', tonumber(h.attempts) + 1)
  set_state(jk, 'queued', 'active', 'worker', consumer, 'started_at', NOWS, 'progress', '0',
    'fence', fence, 'attempts', att)
  if ften then fair_hold(job, jk, ften, lane, eid) end
  emit(job, 'state', 'active', '{"attempt":' .. att .. ',"worker":' .. WORKER_JSON .. '}')
  tasks[#tasks + 1] = task_map(job, eid, fence, att, h)
end

-- The claim: the k entries a blocking XREADGROUP read already (ids in ARGV), then up to
-- `want` new entries of the lane stream, each started by start().
local function claim_entries(ids_at, nids, want)
  for i = 1, nids do
    local id = ARGV[ids_at + i]
    local r = redis.call('XRANGE', skey, id, id)
    if #r == 1 then start(r[1][1], r[1][2]) else redis.call('XACK', skey, 'workers', id) end
  end
  if want > 0 then
    local r = redis.call('XREADGROUP', 'GROUP', 'workers', consumer, 'COUNT', want, 'STREAMS',
      skey, '>')
    if r then
      for _, e in ipairs(r[1][2]) do start(e[1], e[2]) end
    end
  end
end

claim_entries(7, k, want)
return {statuses, tasks}
end, step_pack, step_unpack)
