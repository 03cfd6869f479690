-- common.lua: prepended to every vodq script (see shared/proto.c).
-- KEYS[1] = "vodq:{Q}:stats" (declared so that a cluster client routes the call to
-- the queue's hash slot; every key a script touches shares the {Q} tag),
-- ARGV[1] = key prefix "vodq:{Q}:", ARGV[2] = events MAXLEN, ARGV[3] = retention (s),
-- and the LAST argument of every call is its request id ("<channel>|<seq>", or "" for
-- none): see once().
local p = ARGV[1]
local EVMAX = ARGV[2]
local RET = tonumber(ARGV[3])
local RID = ARGV[#ARGV]
local t = redis.call('TIME')
local NOW = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
-- NOW as text, for redis.call arguments: a Lua number passed there is formatted with
-- "%.17g" on every call, which costs more than the command itself
local NOWS = string.format('%d', NOW)

-- Replay protection. A caller that lost a reply sends the same call again with the same
-- request id; the answer of the first run is kept per channel (one connection of one
-- process, whose calls are sequential) in reply:<channel> and returned without running
-- anything again. One key per channel, so memory stays bounded. A script may keep its
-- answer in a cheaper form than JSON: pack(answer) -> text, unpack(text) -> answer.
local function once(body, pack, unpack)
  if RID == '' then return body() end
  local sep = string.find(RID, '|', 1, true)
  if not sep then return body() end -- a caller without request ids (last argument '')
  local rk, seq = p .. 'reply:' .. string.sub(RID, 1, sep - 1), string.sub(RID, sep + 1)
  local c = redis.call('GET', rk)
  if c then
    local sp = string.find(c, ' ', 1, true)
    if sp and string.sub(c, 1, sp - 1) == seq then
      return (unpack or cjson.decode)(string.sub(c, sp + 1))
    end
  end
  local r = body()
  redis.call('SET', rk, seq .. ' ' .. (pack or cjson.encode)(r), 'EX', 3600)
  return r
end

-- Publishing is a wake-up copy only: it must never fail a script. An ACL user
-- without channel rights (Redis 7's default resetchannels) is refused; the durable
-- copy (job hash, events stream) is written already and workers read it on their heartbeat.
local function publish(chan, msg)
  redis.pcall('PUBLISH', chan, msg)
end

local SUBS -- subscribers of the ev channel, asked once per script call
local function emit(job, etype, state, data)
  local id = redis.call('XADD', p .. 'events', 'MAXLEN', '~', EVMAX, '*',
    'job', job, 'type', etype, 'state', state, 'data', data, 'ts', NOWS)
  -- the stream is the durable copy; the pub/sub wake-up is skipped when nobody listens
  if SUBS == nil then
    local ok, r = pcall(redis.call, 'PUBSUB', 'NUMSUB', p .. 'ev')
    SUBS = ok and r[2] or 0
  end
  if SUBS == 0 then return end
  -- job ids, event types and states are [A-Za-z0-9_.:-] (validated), so no escaping
  publish(p .. 'ev', '{"id":"' .. id .. '","job":"' .. job ..
    '","type":"' .. etype .. '","state":"' .. state .. '","ts":' .. NOWS ..
    ',"data":' .. data .. '}')
end

-- The state machine: the only table of allowed moves (docs/protocol.md §4 copies it).
-- A job "held" by a worker (active, paused or waiting_auth with a task entry) may move to
-- any of those, or end; dead may be retried. Every state change goes through set_state.
local HELD = {active = true, paused = true, waiting_auth = true}
local ENDED = {succeeded = true, dead = true, cancelled = true, rejected = true}
local FROM_HELD = {active = 1, paused = 1, waiting_auth = 1, queued = 1, delayed = 1,
  succeeded = 1, dead = 1, cancelled = 1}
local MOVES = {
  [''] = {queued = 1, rejected = 1, waiting_session = 1, dead = 1, delayed = 1},
  submitted = {queued = 1, rejected = 1, waiting_session = 1, dead = 1, delayed = 1},
  waiting_session = {queued = 1, cancelled = 1, dead = 1},
  queued = {queued = 1, active = 1, paused = 1, cancelled = 1, dead = 1},
  active = FROM_HELD, paused = FROM_HELD, waiting_auth = FROM_HELD,
  delayed = {queued = 1, paused = 1, cancelled = 1, dead = 1},
  dead = {queued = 1},
}

-- Moves job from state `from` to `to` (plus extra field/value pairs). Returns false and
-- writes nothing when the table forbids the move.
local function set_state(jk, from, to, ...)
  local m = MOVES[from or '']
  if not m or not m[to] then return false end
  redis.call('HSET', jk, 'state', to, 'updated_at', NOWS, ...)
  return true
end

-- Checks before writing: reads fields of a job hash into a table by name and validates
-- them. spec is a list of 'name' or 'name:kind' (i integer, s non-empty string, l lane
-- name). Returns h, and on a bad value the field's name and what is wrong with it.
local CHECK = {
  i = {function(v) return v ~= nil and string.match(v, '^%-?%d+$') ~= nil end, 'not an integer'},
  s = {function(v) return v ~= nil and v ~= '' end, 'missing'},
  l = {function(v) return v ~= nil and string.match(v, '^[a-z][a-z0-9_]*$') ~= nil end,
    'missing or not a lane name'},
}
-- spec compiled once per script call: fields{...} -> {names, kinds}
local function fields(spec)
  local names, kinds = {}, {}
  for i, s in ipairs(spec) do
    local c = string.find(s, ':', 1, true)
    names[i] = c and string.sub(s, 1, c - 1) or s
    kinds[i] = c and CHECK[string.sub(s, c + 1)] or false
  end
  return {names, kinds}
end
local function load(jk, spec)
  if spec[1] and type(spec[1]) == 'string' then spec = fields(spec) end
  local names, kinds = spec[1], spec[2]
  local v = redis.call('HMGET', jk, unpack(names))
  local h, bad, why = {}, nil, nil
  for i = 1, #names do
    local x = v[i]
    if x == false then x = nil end
    h[names[i]] = x
    local k = kinds[i]
    if k and not bad and not k[1](x) then bad, why = names[i], k[2] end
  end
  return h, bad, why
end

local function int(v, def)
  local n = tonumber(v or '')
  if n == nil then return def end
  return n
end

-- ---- sessions ----------------------------------------------------------------------
-- session:<S> hash (created_at, updated_at, ttl, jobs, last_job, seq, last_export,
-- last_export_job, last_export_seq, released), and beside it session:<S>:jobs (zset job
-- -> submit order), :open (producers not yet ended -> number), :waiting (uploads without
-- a file -> the number they wait for), :exports (producer -> number, succeeded with an
-- output), :paths (producer -> its output path).
local SESSION_PARTS = {'', ':jobs', ':open', ':waiting', ':exports', ':paths'}
local function session_key(s, part) return p .. 'session:' .. s .. (part or '') end

local function session_touch(s, ttl)
  local sk = session_key(s)
  ttl = ttl or int(redis.call('HGET', sk, 'ttl'), 604800)
  redis.call('HSET', sk, 'updated_at', NOW)
  for _, part in ipairs(SESSION_PARTS) do redis.call('EXPIRE', session_key(s, part), ttl) end
end

local function session_released(s)
  return redis.call('HGET', session_key(s), 'released') == '1'
end

local session_ended -- defined below (scripts may not create globals)

local function terminal(job, jk, st, export, h)
  redis.call('EXPIRE', jk, ARGV[3])
  redis.call('HINCRBY', p .. 'stats', st, '1')
  -- a numbered producer of a session ended: record its export and release the uploads
  -- that waited for it (session_ended is defined below)
  if h == nil then h = load(jk, {'session', 'session_seq'}) end
  if h.session and h.session ~= '' and h.session_seq then
    session_ended(h.session, job, int(h.session_seq, 0), st == 'succeeded' and export or '')
  end
end

local function dead(job, jk, from, code, msg, att)
  redis.call('HSET', jk, 'state', 'dead', 'error_code', code, 'error', msg,
    'finished_at', NOW, 'updated_at', NOW)
  redis.call('XADD', p .. 'dead', 'MAXLEN', '~', 10000, '*', 'job', job, 'code', code,
    'error', msg, 'attempts', tostring(att), 'ts', NOW)
  terminal(job, jk, 'dead')
  local ck = p .. 'ckpt:' .. job
  if redis.call('EXISTS', ck) == 1 then redis.call('EXPIRE', ck, RET) end
  emit(job, 'state', 'dead', cjson.encode({code = code, error = msg, attempts = att}))
end

local function requeue(job, jk, from, lane, why)
  if not set_state(jk, from, 'queued', 'progress', 0) then return false end
  local tid = redis.call('XADD', p .. 'tasks:' .. lane, '*', 'job', job)
  redis.call('HSET', jk, 'task', tid)
  emit(job, 'state', 'queued', cjson.encode({reason = why}))
  return true
end

-- A job hash with a bad field: its task entry (if its lane can be named) is dropped and
-- the job goes to the dead letters with code 'corrupt' naming the field. Nothing else of
-- the calling script's work is touched.
local function corrupt(job, jk, field, why)
  local h = redis.call('HMGET', jk, 'task', 'lane', 'attempts', 'state')
  if h[1] and h[2] and string.match(h[2], '^[a-z][a-z0-9_]*$') then
    redis.call('XACK', p .. 'tasks:' .. h[2], 'workers', h[1])
    redis.call('XDEL', p .. 'tasks:' .. h[2], h[1])
  end
  redis.call('HDEL', jk, 'task')
  redis.call('ZREM', p .. 'delayed', job)
  dead(job, jk, h[4] or '', 'corrupt', 'job hash field ' .. field .. ': ' .. why,
    int(h[3], 0))
end

local function cancelled(job, jk, from)
  if not set_state(jk, from, 'cancelled', 'finished_at', NOW) then return false end
  terminal(job, jk, 'cancelled')
  emit(job, 'state', 'cancelled', '{}')
  return true
end

-- The export an upload without a file takes: the newest successful export numbered at
-- most `upto`, or nil.
local function session_pick(s, upto)
  local r = redis.call('ZREVRANGEBYSCORE', session_key(s, ':exports'), upto, '-inf',
    'LIMIT', 0, 1)
  if #r == 0 then return nil end
  return redis.call('HGET', session_key(s, ':paths'), r[1]), r[1]
end

-- An upload without a file whose predecessors have all ended: give it the export or end it.
local function session_resolve(s, job, jk, from, upto, lane)
  local path, pj = session_pick(s, upto)
  if path then
    redis.call('HSET', jk, 'export', path, 'export_job', pj)
    requeue(job, jk, from, lane, 'session ' .. s .. ': export of ' .. pj)
  else
    dead(job, jk, from, 'no_export',
      'session ' .. s .. ': no job submitted before this upload produced an export', 0)
  end
end

session_ended = function(s, job, seq, export)
  if session_released(s) then return end
  local sk = session_key(s)
  redis.call('ZREM', session_key(s, ':open'), job)
  if export ~= '' then
    redis.call('ZADD', session_key(s, ':exports'), seq, job)
    redis.call('HSET', session_key(s, ':paths'), job, export)
    -- the last export only moves forward
    if seq > int(redis.call('HGET', sk, 'last_export_seq'), 0) then
      redis.call('HSET', sk, 'last_export', export, 'last_export_job', job, 'last_export_seq', seq)
    end
  end
  local first = redis.call('ZRANGE', session_key(s, ':open'), 0, 0, 'WITHSCORES')
  local below = #first == 2 and ('(' .. first[2]) or '+inf'
  local ready = redis.call('ZRANGEBYSCORE', session_key(s, ':waiting'), '-inf', below,
    'WITHSCORES')
  for i = 1, #ready, 2 do
    local uj = ready[i]
    redis.call('ZREM', session_key(s, ':waiting'), uj)
    local ujk = p .. 'job:' .. uj
    local uh = load(ujk, {'state', 'lane'})
    if uh.state == 'waiting_session' then
      session_resolve(s, uj, ujk, 'waiting_session', int(ready[i + 1], 0), uh.lane or 'upload')
    end
  end
  session_touch(s)
end

-- Job creation, for submit and for the children of "then". f: type, lane, spec (JSON
-- text), state ('queued' or 'rejected'), error, max_attempts, timeout_ms,
-- backoff_base_ms, backoff_max_ms, session, session_ttl, parent, submit_entry,
-- needs_export ('1': an upload without a file, which takes its session's export),
-- require (capability tags a worker must have, "a,b"), run_at / delay_ms (ms: a job due
-- later is created 'delayed', in the delayed zset until promote.lua moves it).
-- Returns the state the job got.
local function create_job(id, f)
  local jk = p .. 'job:' .. id
  local st, errmsg, code = f.state, f.error or '', ''
  local s = f.session or ''
  if st == 'queued' and s ~= '' and session_released(s) then
    st, errmsg = 'rejected', 'session ' .. s .. ': session released'
  end
  if st == 'rejected' then code = 'invalid' end
  local created = redis.call('HGET', jk, 'created_at') or tostring(NOW)
  redis.call('HSET', jk, 'id', id, 'type', f.type, 'lane', f.lane, 'spec', f.spec,
    'error', errmsg, 'error_code', code, 'max_attempts', f.max_attempts,
    'timeout_ms', f.timeout_ms, 'backoff_base_ms', f.backoff_base_ms,
    'backoff_max_ms', f.backoff_max_ms, 'session', s, 'attempts', 0, 'fence', 0,
    'desired', 'run', 'progress', 0, 'auth_version', 0, 'created_at', created)
  if f.parent then redis.call('HSET', jk, 'parent', f.parent) end
  if f.require and f.require ~= '' then redis.call('HSET', jk, 'require', f.require) end
  if f.submit_entry then redis.call('HSET', jk, 'submit_entry', f.submit_entry) end
  redis.call('HINCRBY', p .. 'stats', 'submitted', 1)
  local data = f.parent and {parent = f.parent} or {}
  if st == 'rejected' then
    set_state(jk, '', 'rejected')
    terminal(id, jk, 'rejected', '', {})
    emit(id, 'state', 'rejected', cjson.encode({code = 'invalid', error = errmsg}))
    return 'rejected'
  end
  if s ~= '' then
    local sk = session_key(s)
    local ttl = int(f.session_ttl, nil) or int(redis.call('HGET', sk, 'ttl'), 604800)
    redis.call('HSETNX', sk, 'created_at', NOW)
    redis.call('HSET', sk, 'last_job', id, 'ttl', ttl)
    local n = redis.call('HINCRBY', sk, 'jobs', 1)
    redis.call('ZADD', session_key(s, ':jobs'), n, id)
    session_touch(s, ttl)
    if f.type == 'upload' then
      if f.needs_export == '1' then
        -- waits for every producer of the session submitted before it
        local upto = int(redis.call('HGET', sk, 'seq'), 0)
        redis.call('HSET', jk, 'waits_for', upto)
        local first = redis.call('ZRANGE', session_key(s, ':open'), 0, 0, 'WITHSCORES')
        if #first == 2 and tonumber(first[2]) <= upto then
          set_state(jk, '', 'waiting_session')
          redis.call('ZADD', session_key(s, ':waiting'), upto, id)
          data.session, data.waits_for = s, upto
          emit(id, 'state', 'waiting_session', cjson.encode(data))
          return 'waiting_session'
        end
        session_resolve(s, id, jk, '', upto, f.lane)
        return redis.call('HGET', jk, 'state')
      end
    else
      local seq = redis.call('HINCRBY', sk, 'seq', 1)
      redis.call('HSET', jk, 'session_seq', seq)
      redis.call('ZADD', session_key(s, ':open'), seq, id)
      data.session_seq = seq
    end
  end
  local due = math.max(int(f.run_at, 0), NOW + int(f.delay_ms, 0))
  if due > NOW then
    set_state(jk, '', 'delayed', 'run_at', due)
    redis.call('ZADD', p .. 'delayed', due, id)
    data.run_at = due
    emit(id, 'state', 'delayed', cjson.encode(data))
    return 'delayed'
  end
  set_state(jk, '', 'queued')
  local tid = redis.call('XADD', p .. 'tasks:' .. f.lane, '*', 'job', id)
  redis.call('HSET', jk, 'task', tid)
  emit(id, 'state', 'queued', cjson.encode(data))
  return 'queued'
end

-- Cancels a job that no worker holds (or marks a held one for its worker to stop).
-- Returns 'cancelled', 'cancelling' or nil when the job has ended already.
local function cancel_job(job)
  local jk = p .. 'job:' .. job
  local h = load(jk, {'state', 'task', 'lane'})
  if not h.state or ENDED[h.state] then return nil end
  redis.call('HSET', jk, 'desired', 'cancel', 'updated_at', NOW)
  if HELD[h.state] and h.task then
    publish(p .. 'ctl', job .. ' cancel')
    return 'cancelling'
  end
  if h.task and h.lane then
    redis.call('XACK', p .. 'tasks:' .. h.lane, 'workers', h.task)
    redis.call('XDEL', p .. 'tasks:' .. h.lane, h.task)
    redis.call('HDEL', jk, 'task')
  end
  redis.call('ZREM', p .. 'delayed', job)
  if h.state == 'waiting_session' then
    local s = redis.call('HGET', jk, 'session')
    if s then redis.call('ZREM', session_key(s, ':waiting'), job) end
  end
  if h.lane and redis.call('EXISTS', p .. 'ckpt:' .. job) == 1 then
    -- an upload with a multipart upload on the server: a worker must abort it
    requeue(job, jk, h.state, h.lane, 'cancel')
    return 'cancelling'
  end
  cancelled(job, jk, h.state)
  return 'cancelled'
end

-- A task entry whose worker stopped renewing its lease (or died).
local function stalled(skey, eid, fields, why)
  if not fields then redis.call('XACK', skey, 'workers', eid) return 0 end
  local job
  for i = 1, #fields, 2 do if fields[i] == 'job' then job = fields[i + 1] end end
  redis.call('XACK', skey, 'workers', eid)
  redis.call('XDEL', skey, eid)
  if not job then return 0 end
  local jk = p .. 'job:' .. job
  local h, bad, bwhy = load(jk, {'state:s', 'task', 'attempts:i', 'max_attempts:i', 'lane:l',
    'desired', 'fence:i', 'stalls'})
  if h.task ~= eid then return 0 end
  if bad then corrupt(job, jk, bad, bwhy) return 1 end
  redis.call('HSET', jk, 'fence', tonumber(h.fence) + 1, 'stalls', int(h.stalls, 0) + 1)
  redis.call('HDEL', jk, 'task')
  emit(job, 'stalled', h.state, cjson.encode({reason = why}))
  if h.desired == 'cancel' and redis.call('EXISTS', p .. 'ckpt:' .. job) == 0 then
    cancelled(job, jk, h.state)
  elseif tonumber(h.attempts) >= tonumber(h.max_attempts) then
    dead(job, jk, h.state, 'stalled', why, tonumber(h.attempts))
  elseif h.desired == 'pause' and set_state(jk, h.state, 'paused') then
    emit(job, 'state', 'paused', '{"parked":true}')
  else
    requeue(job, jk, h.state, h.lane, 'stalled')
  end
  return 1
end
