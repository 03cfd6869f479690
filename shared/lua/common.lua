-- common.lua: what every vodq script shares (shared/proto.c puts it first in the library).
-- KEYS[1] = "vodq:{Q}:stats" (declared so that a cluster client routes the call to
-- the queue's hash slot; every key a script touches shares the {Q} tag),
-- ARGV[1] = key prefix "vodq:{Q}:", ARGV[2] = events MAXLEN, ARGV[3] = retention (s),
-- and the LAST argument of every call is its request id ("<channel>|<seq>", or "" for
-- none): see once().
-- Per-call state, set by begin() (through run()) before every call. The scripts are
-- loaded once as a Redis FUNCTION library (shared/proto.c), whose locals live from call
-- to call, so nothing of one call may leak into the next: every cache below is reset
-- here (COMPILED, below, holds constants only).
-- (Where Redis has no FUNCTION, each script is sent as an EVAL script: this file, then
-- its own file as the body given to run().)
local p, EVMAX, RET, RID, NOW, NOWS
local SUBS -- subscribers of the ev channel, asked once per script call
local SETTINGS -- the settings hash (§15), read once per script call however many jobs end
local LANEC, TENC -- lane:<L> and tenant:<T> settings, read once per call
local GROUP_ENDING -- groups being ended by this call: their members only record
local STATS -- counters of the stats hash this call adds to (written once, by run())
local VALID -- {i = {value -> integer?}, l = {value -> lane name?}} (valid())
local function begin()
  p = ARGV[1]
  EVMAX = ARGV[2]
  RET = tonumber(ARGV[3])
  RID = ARGV[#ARGV]
  local t = redis.call('TIME')
  NOW = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
  -- NOW as text, for redis.call arguments: a Lua number passed there is formatted with
  -- "%.17g" on every call, which costs more than the command itself
  NOWS = string.format('%d', NOW)
  SUBS, SETTINGS = nil, nil
  LANEC, TENC, GROUP_ENDING, STATS, VALID = {}, {}, {}, {}, {i = {}, l = {}}
end

-- Adds n (default 1) to counter `name` of the stats hash, at the end of the call: one
-- HINCRBY per counter however many jobs a call ends.
local function count(name, n) STATS[name] = (STATS[name] or 0) + (n or 1) end

-- A call: begin(), the script's body, then the counters. Every script runs through it
-- (the library's registered functions, and the EVAL text: shared/proto.c).
local function run(body)
  begin()
  local r = body()
  for name, n in pairs(STATS) do redis.call('HINCRBY', p .. 'stats', name, n) end
  return r
end

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
-- a group (type "group") waits in waiting_members until its members have ended
local FROM_HELD = {active = 1, paused = 1, waiting_auth = 1, queued = 1, delayed = 1,
  succeeded = 1, dead = 1, cancelled = 1}
local MOVES = {
  [''] = {queued = 1, rejected = 1, waiting_session = 1, dead = 1, delayed = 1,
    waiting_members = 1},
  submitted = {queued = 1, rejected = 1, waiting_session = 1, dead = 1, delayed = 1,
    waiting_members = 1},
  waiting_session = {queued = 1, cancelled = 1, dead = 1},
  queued = {queued = 1, active = 1, paused = 1, cancelled = 1, dead = 1},
  active = FROM_HELD, paused = FROM_HELD, waiting_auth = FROM_HELD,
  delayed = {queued = 1, paused = 1, cancelled = 1, dead = 1},
  dead = {queued = 1},
  waiting_members = {succeeded = 1, dead = 1, cancelled = 1},
}

-- Moves job from state `from` to `to` (plus extra field/value pairs). Returns false and
-- writes nothing when the table forbids the move.
local function set_state(jk, from, to, ...)
  local m = MOVES[from or '']
  if not m or not m[to] then return false end
  redis.call('HSET', jk, 'state', to, 'updated_at', NOWS, ...)
  return true
end

-- A check: what is wrong when it fails, and for a pattern check the pattern and the
-- per-call cache (VALID[cache], reset by begin()) of values already matched: a pattern
-- match costs ~1.5k Redis instructions, as much as a field of an HSET, and the same values
-- come back job after job (attempts 1, max_attempts 3, the lane).
local CHECK = {
  i = {what = 'not an integer', pat = '^%-?%d+$', cache = 'i'},
  s = {what = 'missing'},
  l = {what = 'missing or not a lane name', pat = '^[a-z][a-z0-9_]*$', cache = 'l'},
}
-- a field spec compiled: fields{...} -> {names, kinds}
local function fields(spec)
  local names, kinds = {}, {}
  for i, s in ipairs(spec) do
    local c = string.find(s, ':', 1, true)
    names[i] = c and string.sub(s, 1, c - 1) or s
    kinds[i] = c and CHECK[string.sub(s, c + 1)] or false
  end
  return {names, kinds}
end
-- Compiled field specs kept by name (a FUNCTION library keeps them from call to call;
-- they are constants): compiled(name, spec) = fields(spec), made once.
local COMPILED = {}
local function compiled(name, spec)
  local c = COMPILED[name]
  if not c then c = fields(spec) COMPILED[name] = c end
  return c
end

-- The first field of h that fails spec's checks: its name and what is wrong, or nil.
-- (The checks are written out here: a function call per field cost more than they do.)
local function bad_field(h, spec)
  local names, kinds = spec[1], spec[2]
  for i = 1, #names do
    local k = kinds[i]
    if k then
      local v = h[names[i]]
      if v == nil then return names[i], k.what end
      if k.pat then
        local seen = VALID[k.cache]
        local ok = seen[v]
        if ok == nil then ok = string.find(v, k.pat) ~= nil seen[v] = ok end
        if not ok then return names[i], k.what end
      elseif v == '' then
        return names[i], k.what
      end
    end
  end
  return nil
end

-- Checks before writing: reads fields of a job hash into a table by name and validates
-- them. spec is a list of 'name' or 'name:kind' (i integer, s non-empty string, l lane
-- name). Returns h, and on a bad value the field's name and what is wrong with it.
local function load(jk, spec)
  if spec[1] and type(spec[1]) == 'string' then spec = fields(spec) end
  local names = spec[1]
  local v = redis.call('HMGET', jk, unpack(names))
  local h = {}
  for i = 1, #names do
    if v[i] then h[names[i]] = v[i] end
  end
  return h, bad_field(h, spec)
end

local function int(v, def)
  local n = tonumber(v or '')
  if n == nil then return def end
  return n
end

-- ---- fair claiming: priorities, tenants, running caps, rate limits -------------------
-- (docs/protocol.md §17). A lane whose hash lane:<L> has fair=1 ("indexed": set by the
-- first job with a priority or tenant, or by vodqctl lane set) keeps its waiting jobs in
-- ready:<L>:<T> (one sorted set per tenant T, score = queued_ms - priority * aging_ms)
-- and puts a wake-up token (entry `wake <T>`) into tasks:<L> per job; a worker that reads
-- a token picks the tenant whose turn it is (weighted round robin over lane:<L>:rr),
-- skipping tenants at their running cap or rate limit, and starts its best job under the
-- token's entry id (which then is the job's task entry and lease). A token that finds
-- nothing startable is dropped and counted in lane:<L> owed; it is given back when a
-- capped tenant's job ends (fair_release) or a rate window reopens (member '#<L>' of the
-- delayed zset, fair_wake from promote.lua). Lanes without fair=1 never get here.
local function lane_cfg(lane)
  local c = LANEC[lane]
  if c == nil then
    local v = redis.call('HMGET', p .. 'lane:' .. lane, 'fair', 'aging_ms', 'rate', 'per_ms')
    c = {fair = v[1] == '1', aging = int(v[2], 60000), rate = int(v[3], 0), per = int(v[4], 0)}
    LANEC[lane] = c
  end
  return c
end
local function tenant_cfg(t)
  local c = TENC[t]
  if c == nil then
    local v = redis.call('HMGET', p .. 'tenant:' .. t, 'weight', 'max_running', 'rate', 'per_ms')
    c = {weight = math.max(1, int(v[1], 1)), cap = int(v[2], -1), rate = int(v[3], 0),
      per = int(v[4], 0)}
    TENC[t] = c
  end
  return c
end

-- Fixed-window rate counters rate:lane:<L> / rate:tenant:<T> {w = window start, n}.
-- rate_full answers the time the window reopens when `limit` jobs started in it.
local function rate_full(rk, limit, per)
  if limit <= 0 or per <= 0 then return nil end
  local w = NOW - NOW % per
  local v = redis.call('HMGET', rk, 'w', 'n')
  if int(v[1], -1) == w and int(v[2], 0) >= limit then return w + per end
  return nil
end
local function rate_take(rk, limit, per)
  if limit <= 0 or per <= 0 then return end
  local w = NOW - NOW % per
  if int(redis.call('HGET', rk, 'w'), -1) == w then redis.call('HINCRBY', rk, 'n', 1)
  else redis.call('HSET', rk, 'w', w, 'n', 1) end
  redis.call('PEXPIRE', rk, per * 2)
end

-- The spec's tenant and priority, or nil when it names neither (a plain find first, so
-- a spec without them costs no decode).
local function fair_spec(spec)
  if not spec or not (string.find(spec, '"tenant"', 1, true) or
      string.find(spec, '"priority"', 1, true)) then return nil end
  local ok, s = pcall(cjson.decode, spec)
  if not ok or type(s) ~= 'table' then return nil end
  local t = type(s.tenant) == 'string' and s.tenant or nil
  local pr = tonumber(s.priority)
  if not t and not pr then return nil end
  return t or 'default', pr and math.max(0, math.min(9, math.floor(pr))) or 0
end

-- Puts a queued job of a fair lane into its tenant's ready set and XADDs its token.
-- Returns false (nothing done) when the lane is not fair: the caller XADDs the entry.
-- ten/prio nil: taken from the job hash (requeue).
local function fair_enqueue(job, jk, lane, ten, prio)
  local c = lane_cfg(lane)
  if not c.fair then return false end
  if ten == nil then
    local v = redis.call('HMGET', jk, 'tenant', 'priority')
    ten, prio = v[1] or 'default', int(v[2], 0)
  end
  local rk = p .. 'ready:' .. lane .. ':' .. ten
  redis.call('ZADD', rk, NOW - prio * c.aging, job)
  local rr = p .. 'lane:' .. lane .. ':rr'
  if redis.call('ZCARD', rk) == 1 and not redis.call('LPOS', rr, ten) then
    redis.call('RPUSH', rr, ten)
  end
  redis.call('HSET', jk, 'ready', ten)
  redis.call('HDEL', jk, 'task')
  redis.call('XADD', p .. 'tasks:' .. lane, '*', 'wake', ten)
  return true
end

-- A job leaves its ready set without starting (cancel, pause, remove).
local function fair_unready(job, jk, lane)
  local t = redis.call('HGET', jk, 'ready')
  if not t then return end
  redis.call('HDEL', jk, 'ready')
  redis.call('ZREM', p .. 'ready:' .. lane .. ':' .. t, job)
end

-- A token found nothing startable: owe it; at = when a rate window reopens (then the
-- lane is woken through the delayed zset and n tokens are given back).
local function fair_owe(lane, at, n, per)
  local lk = p .. 'lane:' .. lane
  redis.call('HINCRBY', lk, 'owed', 1)
  if at then
    redis.call('ZADD', p .. 'delayed', 'LT', at, '#' .. lane)
    redis.call('HSET', lk, 'wake_n', n, 'wake_per', per)
  end
end

-- The token entry eid of lane was read: returns the job to start under it and its
-- tenant, or nil (the caller drops the entry). fields: the entry's fields.
local function fair_claim(lane, eid, fields)
  if not fields or fields[1] ~= 'wake' then return nil end
  local c = lane_cfg(lane)
  local lk = p .. 'lane:' .. lane
  local rr = lk .. ':rr'
  local lat = rate_full(p .. 'rate:lane:' .. lane, c.rate, c.per)
  if lat then
    if redis.call('LLEN', rr) > 0 then fair_owe(lane, lat, c.rate, c.per) end
    return nil
  end
  local blocked, at, n, per = false, nil, 0, 0
  local len = redis.call('LLEN', rr)
  for _ = 1, len do
    local t = redis.call('LINDEX', rr, 0)
    if not t then break end
    local rk = p .. 'ready:' .. lane .. ':' .. t
    if redis.call('EXISTS', rk) == 0 then
      redis.call('LPOP', rr)
      redis.call('HDEL', lk .. ':credit', t)
    else
      local tc = tenant_cfg(t)
      local tat = rate_full(p .. 'rate:tenant:' .. t, tc.rate, tc.per)
      local skip = true
      if tc.cap >= 0 and int(redis.call('HGET', p .. 'running', t), 0) >= tc.cap then
        redis.call('SADD', p .. 'tenant:' .. t .. ':blocked', lane)
        blocked = true
      elseif tat then
        blocked, n = true, n + tc.rate
        if not at or tat < at then at, per = tat, tc.per end
      else
        skip = false
        -- its best job (a member whose job hash is gone, removed meanwhile, is skipped)
        local job
        repeat job = redis.call('ZPOPMIN', rk)[1]
        until not job or redis.call('EXISTS', p .. 'job:' .. job) == 1
        -- weight 1 (the default): a turn is one pick, no credit kept
        local left = tc.weight > 1 and int(redis.call('HGET', lk .. ':credit', t), tc.weight) - 1 or 0
        if redis.call('EXISTS', rk) == 0 then
          redis.call('LPOP', rr)
          if tc.weight > 1 then redis.call('HDEL', lk .. ':credit', t) end
        elseif left <= 0 then
          if len > 1 then redis.call('LMOVE', rr, rr, 'LEFT', 'RIGHT') end
          if tc.weight > 1 then redis.call('HDEL', lk .. ':credit', t) end
        else
          redis.call('HSET', lk .. ':credit', t, left)
        end
        if job then
          local jk = p .. 'job:' .. job
          redis.call('HSET', jk, 'task', eid)
          redis.call('HDEL', jk, 'ready')
          return job, t
        end
      end
      if skip then
        -- a blocked tenant loses the rest of its turn
        redis.call('LMOVE', rr, rr, 'LEFT', 'RIGHT')
        redis.call('HDEL', lk .. ':credit', t)
      end
    end
  end
  if blocked then fair_owe(lane, at, n, per) end
  return nil
end

-- The job started under token eid: it now counts against its tenant's cap and the rates.
local function fair_hold(job, jk, t, lane, eid)
  redis.call('HSET', jk, 'fair_held', t)
  redis.call('HSET', p .. 'lane:' .. lane .. ':held', eid, job)
  redis.call('HINCRBY', p .. 'running', t, 1)
  local c, tc = lane_cfg(lane), tenant_cfg(t)
  rate_take(p .. 'rate:lane:' .. lane, c.rate, c.per)
  rate_take(p .. 'rate:tenant:' .. t, tc.rate, tc.per)
end

-- A job started through a token no longer holds its worker (finished, stalled, handed
-- back, corrupt): free its tenant's running slot and give a token back to every lane
-- where that tenant waited at its cap.
local function fair_release(jk, lane, eid)
  local t = redis.call('HGET', jk, 'fair_held')
  if not t then return end
  redis.call('HDEL', jk, 'fair_held')
  if eid then redis.call('HDEL', p .. 'lane:' .. lane .. ':held', eid) end
  if redis.call('HINCRBY', p .. 'running', t, -1) <= 0 then redis.call('HDEL', p .. 'running', t) end
  local bk = p .. 'tenant:' .. t .. ':blocked'
  for _, l in ipairs(redis.call('SMEMBERS', bk)) do
    if redis.call('EXISTS', p .. 'ready:' .. l .. ':' .. t) == 0 then
      redis.call('SREM', bk, l)
    elseif int(redis.call('HGET', p .. 'lane:' .. l, 'owed'), 0) > 0 then
      redis.call('HINCRBY', p .. 'lane:' .. l, 'owed', -1)
      redis.call('XADD', p .. 'tasks:' .. l, '*', 'wake', t)
    end
  end
end

-- The lane's wake-up came due (promote.lua): give back owed tokens, at most wake_n (the
-- rate that blocked them; all when none) and 1000, and come again a window later while
-- some are still owed.
local function fair_wake(lane)
  local lk = p .. 'lane:' .. lane
  local v = redis.call('HMGET', lk, 'owed', 'wake_n', 'wake_per')
  local owed, wn, per = int(v[1], 0), int(v[2], 0), int(v[3], 0)
  local n = math.min(owed, 1000)
  if wn > 0 then n = math.min(n, wn) end
  for _ = 1, n do redis.call('XADD', p .. 'tasks:' .. lane, '*', 'wake', '') end
  if n > 0 then redis.call('HINCRBY', lk, 'owed', -n) end
  redis.call('HDEL', lk, 'wake_n', 'wake_per')
  if owed > n then
    redis.call('ZADD', p .. 'delayed', 'LT', NOW + (per > 0 and per or 0), '#' .. lane)
    if wn > 0 then redis.call('HSET', lk, 'wake_n', wn, 'wake_per', per) end
  end
end

-- A task entry of a fair lane that has no job field: its job (from lane:<L>:held) when a
-- job was started under it; a token nobody started a job under is put back (XADD).
local function fair_entry_job(skey, eid, fields)
  if not fields or fields[1] ~= 'wake' then return nil end
  local lane = string.sub(skey, #p + 7)
  local job = redis.call('HGET', p .. 'lane:' .. lane .. ':held', eid)
  if job then return job end
  redis.call('XADD', skey, '*', 'wake', fields[2] or '')
  return nil
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
local group_member_ended, group_start, group_cancel -- groups (fan-in): defined at the end

-- What a job end also does, by the settings hash the scheduler writes (docs/protocol.md
-- §14-15): the job hash's TTL (retention:<type>:<state>, retention:*:<state>, else RET)
-- and, for a job with a notify_url ending succeeded/dead/cancelled, one webhook delivery
-- queued in hooks (at most hooks_max pending, default 10000; beyond that it is dropped
-- with an event).
local RETENTION_SET -- whether settings() holds any retention:* field (this call)
local function settings()
  if not SETTINGS then
    SETTINGS, RETENTION_SET = {}, false
    local a = redis.call('HGETALL', p .. 'settings')
    for i = 1, #a, 2 do
      SETTINGS[a[i]] = a[i + 1]
      if string.sub(a[i], 1, 10) == 'retention:' then RETENTION_SET = true end
    end
  end
  return SETTINGS
end

-- Returns the job's group (false if none), read with its type and notify_url, or taken
-- from h when the caller read them (h.type set: step.lua's FIN).
local function ended_extras(job, jk, st, h)
  local x
  if h and h.type then x = {h.type, h.notify_url, h.group}
  else x = redis.call('HMGET', jk, 'type', 'notify_url', 'group') end
  local s = settings()
  local ret = RETENTION_SET and (s['retention:' .. (x[1] or '') .. ':' .. st] or
    s['retention:*:' .. st])
  redis.call('EXPIRE', jk, ret and tonumber(ret) or RET)
  local g = x[3] or false
  if not x[2] or x[2] == '' or st == 'rejected' then return g end
  local m = job .. '|' .. st .. '|' .. NOW
  if redis.call('ZCARD', p .. 'hooks') >= (tonumber(s.hooks_max or '') or 10000) then
    emit(job, 'webhook', st, '{"outcome":"dropped","error":"too many pending deliveries"}')
    return g
  end
  redis.call('HSET', p .. 'hook:' .. m, 'job', job, 'state', st, 'url', x[2], 'attempts', 0,
    'created_at', NOW)
  redis.call('ZADD', p .. 'hooks', NOW, m)
  return g
end

local function terminal(job, jk, st, export, h)
  local g = ended_extras(job, jk, st, h)
  count(st)
  -- a numbered producer of a session ended: record its export and release the uploads
  -- that waited for it (session_ended is defined below)
  if h == nil then h = load(jk, {'session', 'session_seq'}) end
  if h.session and h.session ~= '' and h.session_seq == nil then
    h.session_seq = redis.call('HGET', jk, 'session_seq') or nil -- not read by the caller
  end
  if h.session and h.session ~= '' and h.session_seq then
    session_ended(h.session, job, int(h.session_seq, 0), st == 'succeeded' and export or '')
  end
  group_member_ended(job, jk, st, export, g)
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
  if not fair_enqueue(job, jk, lane) then
    local tid = redis.call('XADD', p .. 'tasks:' .. lane, '*', 'job', job)
    redis.call('HSET', jk, 'task', tid)
  end
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
  if h[2] and string.match(h[2], '^[a-z][a-z0-9_]*$') then
    fair_release(jk, h[2], h[1])
    fair_unready(job, jk, h[2])
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
-- later is created 'delayed', in the delayed zset until promote.lua moves it), notify_url
-- (webhook URL, '' none).
-- Returns the state the job got.
local function create_job(id, f)
  local jk = p .. 'job:' .. id
  local st, errmsg, code = f.state, f.error or '', ''
  local s = f.session or ''
  if st == 'queued' and s ~= '' and session_released(s) then
    st, errmsg = 'rejected', 'session ' .. s .. ': session released'
  end
  if st == 'rejected' then code = 'invalid' end
  local created = redis.call('HGET', jk, 'created_at') or NOWS
  -- The fields every claim and finish read or write come first: a small hash (short
  -- values) is a listpack, where finding a field scans the ones before it.
  redis.call('HSET', jk, 'state', 'submitted', 'fence', 0, 'attempts', 0, 'desired', 'run',
    'updated_at', NOWS, 'progress', 0, 'session', s, 'auth_version', 0,
    'max_attempts', f.max_attempts, 'timeout_ms', f.timeout_ms, 'lane', f.lane,
    'type', f.type, 'spec', f.spec, 'backoff_base_ms', f.backoff_base_ms,
    'backoff_max_ms', f.backoff_max_ms, 'error', errmsg, 'error_code', code, 'id', id,
    'created_at', created)
  if f.parent then redis.call('HSET', jk, 'parent', f.parent) end
  if f.group then redis.call('HSET', jk, 'group', f.group, 'group_index', f.group_index) end
  if f.require and f.require ~= '' then redis.call('HSET', jk, 'require', f.require) end
  if f.submit_entry then redis.call('HSET', jk, 'submit_entry', f.submit_entry) end
  local ften, fprio = nil, nil
  if st ~= 'rejected' then ften, fprio = fair_spec(f.spec) end
  if ften and f.type == 'group' then ften, fprio = nil, nil end -- its members are queued
  if ften then -- the first job with a tenant or priority makes its lane fair (§17)
    redis.call('HSET', jk, 'tenant', ften, 'priority', fprio)
    if not lane_cfg(f.lane).fair then
      redis.call('HSET', p .. 'lane:' .. f.lane, 'fair', 1)
      LANEC[f.lane].fair = true
    end
  end
  if f.notify_url and f.notify_url ~= '' then redis.call('HSET', jk, 'notify_url', f.notify_url) end
  count('submitted')
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
    elseif f.type ~= 'group' then -- a group is no producer: its members are
      local seq = redis.call('HINCRBY', sk, 'seq', 1)
      redis.call('HSET', jk, 'session_seq', seq)
      redis.call('ZADD', session_key(s, ':open'), seq, id)
      data.session_seq = seq
    end
  end
  if f.type == 'group' then return group_start(id, jk, f, data) end
  local due = math.max(int(f.run_at, 0), NOW + int(f.delay_ms, 0))
  if due > NOW then
    set_state(jk, '', 'delayed', 'run_at', due)
    redis.call('ZADD', p .. 'delayed', due, id)
    data.run_at = due
    emit(id, 'state', 'delayed', cjson.encode(data))
    return 'delayed'
  end
  set_state(jk, '', 'queued')
  if not fair_enqueue(id, jk, f.lane, ften or 'default', fprio or 0) then
    local tid = redis.call('XADD', p .. 'tasks:' .. f.lane, '*', 'job', id)
    redis.call('HSET', jk, 'task', tid)
  end
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
  if h.state == 'waiting_members' then -- a group: it ends first, then its members
    cancelled(job, jk, h.state)
    group_cancel(job)
    return 'cancelled'
  end
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
  if h.lane then fair_unready(job, jk, h.lane) end
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
  if not job then job = fair_entry_job(skey, eid, fields) end
  if not job then return 0 end
  local jk = p .. 'job:' .. job
  local h, bad, bwhy = load(jk, {'state:s', 'task', 'attempts:i', 'max_attempts:i', 'lane:l',
    'desired', 'fence:i', 'stalls'})
  if h.task ~= eid then return 0 end
  if bad then corrupt(job, jk, bad, bwhy) return 1 end
  redis.call('HSET', jk, 'fence', tonumber(h.fence) + 1, 'stalls', int(h.stalls, 0) + 1)
  redis.call('HDEL', jk, 'task')
  fair_release(jk, h.lane, eid)
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

-- ---- groups (fan-in) ------------------------------------------------------------------
-- A job of type "group" creates its members at once (ids <G>.1 .. <G>.n, fields group
-- and group_index) and waits in state waiting_members; each member's end is written to
-- the hash group:<G> (member -> {state, export, result, code, error}) by terminal(), so
-- it counts once however often it is told (a retried member is taken out again by
-- control.lua). When every member has ended (or, with fail_fast, at the first that did
-- not succeed) the group succeeds (all succeeded) or ends dead with code group_failed;
-- its result lists the members; its "then" jobs (<G>.then<i>) are created on success
-- (then_on "all_ended": whenever it ends, but not when cancelled), with "$member:N"
-- strings replaced by member N's export.

-- Creates a child job from a validated spec table (a member or a then job): lane and
-- require were chosen when the parent was validated. extra: more create_job fields.
local function spawn(cid, child, parent, s, d, extra)
  if type(child) ~= 'table' or type(child.type) ~= 'string' or
      redis.call('EXISTS', p .. 'job:' .. cid) == 1 then return end
  local clane = type(child.lane) == 'string' and child.lane or child.type
  local creq = type(child.require) == 'string' and child.require or ''
  child.lane, child.require = nil, nil
  child.id = cid
  if s ~= '' then child.session = s end
  local sec = child[child.type]
  local bo = type(child.backoff) == 'table' and child.backoff or {}
  local f = {type = child.type, lane = clane, spec = cjson.encode(child), state = 'queued',
    max_attempts = tostring(child.max_attempts or d.max_attempts or 3),
    timeout_ms = tostring(child.timeout_ms or 0),
    backoff_base_ms = tostring(bo.base_ms or d.backoff_base_ms or 1000),
    backoff_max_ms = tostring(bo.max_ms or d.backoff_max_ms or 600000),
    session = s, parent = parent, require = creq,
    run_at = child.run_at and tostring(child.run_at), delay_ms = child.delay_ms and
      tostring(child.delay_ms),
    needs_export = (child.type == 'upload' and type(sec) == 'table' and sec.file == nil and
      s ~= '') and '1' or '0'}
  for k, v in pairs(extra or {}) do f[k] = v end
  create_job(cid, f)
end

group_start = function(id, jk, f, data)
  local okj, spec = pcall(cjson.decode, f.spec)
  local g = okj and type(spec) == 'table' and type(spec.group) == 'table' and spec.group
  if not g or type(g.jobs) ~= 'table' or #g.jobs == 0 then
    dead(id, jk, '', 'corrupt', 'group.jobs: missing or empty', 0)
    return 'dead'
  end
  set_state(jk, '', 'waiting_members', 'members', #g.jobs, 'fail_fast',
    g.fail_fast == true and '1' or '0', 'then_on', g.then_on == 'all_ended' and 'all_ended' or
    'succeeded')
  data.members = #g.jobs
  emit(id, 'state', 'waiting_members', cjson.encode(data))
  for i, m in ipairs(g.jobs) do
    -- a member keeps the group's tenant and priority unless it names its own (§17)
    if type(m) == 'table' and m.tenant == nil then m.tenant = spec.tenant end
    if type(m) == 'table' and m.priority == nil then m.priority = spec.priority end
    spawn(id .. '.' .. i, m, id, f.session or '', f, {group = id, group_index = i})
  end
  return redis.call('HGET', jk, 'state')
end

group_cancel = function(g)
  local n = int(redis.call('HGET', p .. 'job:' .. g, 'members'), 0)
  for i = 1, n do cancel_job(g .. '.' .. i) end
  redis.call('EXPIRE', p .. 'group:' .. g, RET)
end

-- "$member:N" strings of a then job's spec become member N's export (not inside "then"
-- lists, which belong to the next level); the numbers without one go to bad.
local function group_refs(t, exports, bad)
  for k, v in pairs(t) do
    if type(v) == 'string' then
      local n = string.match(v, '^%$member:(%d+)$')
      if n then
        local e = exports[tonumber(n)]
        if e and e ~= '' then t[k] = e else bad[#bad + 1] = n end
      end
    elseif type(v) == 'table' and k ~= 'then' then
      group_refs(v, exports, bad)
    end
  end
end


local function group_end(g, gk, gh)
  local n = int(gh.members, 0)
  local ek = p .. 'group:' .. g
  GROUP_ENDING[g] = true
  local ids = {}
  for i = 1, n do ids[i] = g .. '.' .. i end
  local vals = redis.call('HMGET', ek, unpack(ids))
  local list, exports, ok, failed = {}, {}, 0, {}
  for i = 1, n do
    local r = vals[i] and cjson.decode(vals[i]) or nil
    if not r then -- fail_fast: a member still running is cancelled
      cancel_job(ids[i])
      local now = redis.call('HGET', p .. 'job:' .. ids[i], 'state')
      r = {state = now == 'cancelled' and 'cancelled' or 'cancelling', export = ''}
    end
    r.id = ids[i]
    list[i], exports[i] = r, r.export
    if r.state == 'succeeded' then ok = ok + 1 else failed[#failed + 1] = r end
  end
  local res = cjson.encode({members = list, succeeded = ok, failed = n - ok, total = n})
  redis.call('EXPIRE', ek, RET)
  if ok == n then
    set_state(gk, 'waiting_members', 'succeeded', 'result', res, 'progress', 100,
      'finished_at', NOW, 'error', '', 'error_code', '')
    terminal(g, gk, 'succeeded', '', {})
    emit(g, 'state', 'succeeded', res)
  else
    local why = {}
    for i = 1, math.min(#failed, 3) do
      local r = failed[i]
      why[i] = r.id .. ' ' .. r.state .. ((r.code and r.code ~= '') and (' (' .. r.code .. ')') or '')
    end
    redis.call('HSET', gk, 'result', res)
    dead(g, gk, 'waiting_members', 'group_failed', (n - ok) .. ' of ' .. n ..
      ' members did not succeed: ' .. table.concat(why, ', ') .. (#failed > 3 and ', ...' or ''), 0)
  end
  GROUP_ENDING[g] = nil
  if ok < n and gh.then_on ~= 'all_ended' then return end
  local h = load(gk, {'spec', 'session', 'max_attempts', 'backoff_base_ms', 'backoff_max_ms'})
  local okj, spec = pcall(cjson.decode, h.spec or '')
  if not okj or type(spec) ~= 'table' or type(spec['then']) ~= 'table' then return end
  for i, child in ipairs(spec['then']) do
    if type(child) == 'table' then
      local bad = {}
      group_refs(child, exports, bad)
      local extra = nil
      if #bad > 0 then
        extra = {state = 'rejected', error = 'group ' .. g .. ': member ' .. bad[1] ..
          ' has no export for "$member:' .. bad[1] .. '"'}
      end
      spawn(g .. '.then' .. i, child, g, h.session or '', h, extra)
    end
  end
end

group_member_ended = function(job, jk, st, export, known)
  local g = known -- terminal() read it already (false: no group)
  if g == nil then g = redis.call('HGET', jk, 'group') end
  if not g then return end
  local m = redis.call('HMGET', jk, 'group', 'result', 'error_code', 'error')
  local rec = {state = st, export = export or ''}
  if m[2] and m[2] ~= '' then
    local okr, r = pcall(cjson.decode, m[2])
    if okr then rec.result = r end
  end
  if st ~= 'succeeded' then rec.code, rec.error = m[3] or '', m[4] or '' end
  local ek = p .. 'group:' .. g
  redis.call('HSET', ek, job, cjson.encode(rec))
  if GROUP_ENDING[g] then return end
  local gk = p .. 'job:' .. g
  local gh = load(gk, {'state', 'members', 'fail_fast', 'then_on'})
  if gh.state ~= 'waiting_members' then redis.call('EXPIRE', ek, RET) return end
  local ended, n = redis.call('HLEN', ek), int(gh.members, 0)
  if ended >= n or (st ~= 'succeeded' and gh.fail_fast == '1') then
    group_end(g, gk, gh)
  else
    redis.call('HSET', gk, 'progress', math.floor(ended * 100 / n), 'updated_at', NOW)
  end
end
