-- common.lua: prepended to every vodq script (see shared/scripts.c).
-- KEYS[1] = "vodq:{Q}:stats" (declared so that a cluster client routes the call to
-- the queue's hash slot; every key a script touches shares the {Q} tag),
-- ARGV[1] = key prefix "vodq:{Q}:", ARGV[2] = events MAXLEN, ARGV[3] = retention (s).
local p = ARGV[1]
local EVMAX = ARGV[2]
local RET = tonumber(ARGV[3])
local t = redis.call('TIME')
local NOW = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)

-- PUBLISH that never fails the script: an ACL user without channel rights
-- (Redis 7's default resetchannels) is refused, but the durable copy (job hash,
-- events stream) is written already and workers read it on their heartbeat.
local function publish(ch, msg)
  local r = redis.pcall('PUBLISH', ch, msg)
  if type(r) == 'table' and r.err and not (string.find(r.err, 'NOPERM', 1, true)
      or string.find(r.err, "can't publish", 1, true)) then
    error(r)
  end
end

local SUBS -- subscribers of the ev channel, asked once per script call
local function emit(job, etype, state, data)
  local id = redis.call('XADD', p .. 'events', 'MAXLEN', '~', EVMAX, '*',
    'job', job, 'type', etype, 'state', state, 'data', data, 'ts', NOW)
  -- the stream is the durable copy; the pub/sub wake-up is skipped when nobody listens
  if SUBS == nil then SUBS = redis.call('PUBSUB', 'NUMSUB', p .. 'ev')[2] end
  if SUBS == 0 then return end
  -- job ids, event types and states are [A-Za-z0-9_.:-] (validated), so no escaping
  publish(p .. 'ev', '{"id":"' .. id .. '","job":"' .. job ..
    '","type":"' .. etype .. '","state":"' .. state .. '","ts":' .. NOW ..
    ',"data":' .. data .. '}')
end

local function terminal(jk, st)
  redis.call('EXPIRE', jk, RET)
  redis.call('HINCRBY', p .. 'stats', st, 1)
end

local function requeue(job, jk, typ, why)
  local tid = redis.call('XADD', p .. 'tasks:' .. typ, '*', 'job', job)
  redis.call('HSET', jk, 'task', tid, 'state', 'queued', 'updated_at', NOW, 'progress', 0)
  emit(job, 'state', 'queued', cjson.encode({reason = why}))
end

local function dead(job, jk, code, msg, att)
  redis.call('HSET', jk, 'state', 'dead', 'error_code', code, 'error', msg,
    'finished_at', NOW, 'updated_at', NOW)
  redis.call('XADD', p .. 'dead', 'MAXLEN', '~', 10000, '*', 'job', job, 'code', code,
    'error', msg, 'attempts', tostring(att), 'ts', NOW)
  terminal(jk, 'dead')
  local ck = p .. 'ckpt:' .. job
  if redis.call('EXISTS', ck) == 1 then redis.call('EXPIRE', ck, RET) end
  emit(job, 'state', 'dead', cjson.encode({code = code, error = msg, attempts = att}))
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
  local h = redis.call('HMGET', jk, 'state', 'task', 'attempts', 'max_attempts', 'lane', 'desired')
  if h[2] ~= eid then return 0 end
  redis.call('HINCRBY', jk, 'fence', 1)
  redis.call('HINCRBY', jk, 'stalls', 1)
  redis.call('HDEL', jk, 'task')
  emit(job, 'stalled', h[1] or '', cjson.encode({reason = why}))
  if h[6] == 'cancel' and redis.call('EXISTS', p .. 'ckpt:' .. job) == 0 then
    redis.call('HSET', jk, 'state', 'cancelled', 'finished_at', NOW, 'updated_at', NOW)
    terminal(jk, 'cancelled')
    emit(job, 'state', 'cancelled', '{}')
  elseif tonumber(h[3] or '0') >= tonumber(h[4] or '1') then
    dead(job, jk, 'stalled', why, tonumber(h[3] or '0'))
  elseif h[6] == 'pause' then
    redis.call('HSET', jk, 'state', 'paused', 'updated_at', NOW)
    emit(job, 'state', 'paused', '{"parked":true}')
  else
    requeue(job, jk, h[5], 'stalled')
  end
  return 1
end
