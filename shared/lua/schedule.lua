-- schedule.lua: recurring jobs from cron expressions (docs/protocol.md §13).
-- Keys: schedules (zset name -> next slot, ms), schedule:<name> (hash: name, cron, spec,
-- catch_up, next_at, created_at, updated_at, last_slot, last_job, fired, skipped).
-- ARGV[4] op, then:
--   add NAME CRON SPEC CATCH_UP NEXT_AT   create or replace (next_at from the caller's
--                                          cron evaluation); returns added|replaced
--   remove NAME                            returns removed|missing
--   fire NAME EXPECTED_NEXT NEW_NEXT SKIPPED N (SLOT JOB_ID)*N
--     the scheduler's step for a due schedule: only when next_at is still EXPECTED_NEXT
--     (so of several schedulers exactly one fires each slot), XADDs one submit entry per
--     slot with the job id derived from the name and the slot (a resubmitted id is
--     ignored, so a replay cannot make a second job), moves next_at to NEW_NEXT, and
--     emits an event 'scheduled' for each job. Returns fired|raced|missing.
-- then the request id. Answer: map status, message.
return once(function()
local op, name = ARGV[4], ARGV[5]
local hk = p .. 'schedule:' .. name
local zk = p .. 'schedules'
local function answer(status, msg) return {'status', status, 'message', msg} end
if op == 'add' then
  local existed = redis.call('EXISTS', hk) == 1
  redis.call('HSETNX', hk, 'created_at', NOW)
  redis.call('HSETNX', hk, 'fired', 0)
  redis.call('HSETNX', hk, 'skipped', 0)
  redis.call('HSET', hk, 'name', name, 'cron', ARGV[6], 'spec', ARGV[7], 'catch_up', ARGV[8],
    'next_at', ARGV[9], 'updated_at', NOW)
  redis.call('ZADD', zk, ARGV[9], name)
  return answer(existed and 'replaced' or 'added', 'next at ' .. ARGV[9])
elseif op == 'remove' then
  local n = redis.call('DEL', hk)
  redis.call('ZREM', zk, name)
  if n == 0 then return answer('missing', 'no such schedule: ' .. name) end
  return answer('removed', 'removed')
elseif op == 'fire' then
  local h = redis.call('HMGET', hk, 'next_at', 'spec')
  if not h[1] then redis.call('ZREM', zk, name) return answer('missing', 'no such schedule') end
  if h[1] ~= ARGV[6] then return answer('raced', 'next_at is ' .. h[1]) end
  local n = tonumber(ARGV[9])
  local last_slot, last_job
  for i = 0, n - 1 do
    local slot, job = ARGV[10 + 2 * i], ARGV[11 + 2 * i]
    redis.call('XADD', p .. 'submit', '*', 'id', job, 'spec', h[2])
    emit(job, 'scheduled', 'submitted', cjson.encode({schedule = name, slot = tonumber(slot)}))
    last_slot, last_job = slot, job
  end
  redis.call('HSET', hk, 'next_at', ARGV[7])
  if last_slot then redis.call('HSET', hk, 'last_slot', last_slot, 'last_job', last_job) end
  redis.call('HINCRBY', hk, 'fired', n)
  redis.call('HINCRBY', hk, 'skipped', tonumber(ARGV[8]))
  redis.call('ZADD', zk, ARGV[7], name)
  return answer('fired', tostring(n))
end
return answer('err', 'unknown op: ' .. tostring(op))
end)
