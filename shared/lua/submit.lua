-- submit.lua: create a validated (or rejected) job and push its first task.
-- ARGV[4] id, [5] type, [6] spec JSON, [7] state 'queued'|'rejected', [8] error,
-- [9] max_attempts, [10] timeout_ms, [11] backoff_base_ms, [12] backoff_max_ms,
-- [13] session, [14] submit stream entry id to ack ('' if none), [15] lane (task stream),
-- [16] '1' for an upload without a file (it takes its session's export),
-- [17] session ttl in seconds, [18] capability tags the job requires ("a,b" or ''),
-- [19] run_at (ms since the epoch, '' none), [20] delay_ms ('' none), [21] notify_url ('' none),
-- then the request id.
-- A job due later is created 'delayed' (in the delayed zset, moved to its task stream by
-- promote.lua when due).
-- Returns the job's state ('queued', 'delayed', 'waiting_session', 'rejected', 'dead'), or 'dup'
-- when a job with this id already exists past 'submitted'.
return once(function()
local id, entry = ARGV[4], ARGV[14]
local jk = p .. 'job:' .. id
local function ack()
  if entry ~= '' then
    redis.call('XACK', p .. 'submit', 'schedulers', entry)
    redis.call('XDEL', p .. 'submit', entry)
  end
end
local cur = redis.call('HGET', jk, 'state')
if cur and cur ~= 'submitted' then ack() return 'dup' end
local st = create_job(id, {type = ARGV[5], lane = ARGV[15] ~= '' and ARGV[15] or ARGV[5],
  spec = ARGV[6], state = ARGV[7], error = ARGV[8], max_attempts = ARGV[9],
  timeout_ms = ARGV[10], backoff_base_ms = ARGV[11], backoff_max_ms = ARGV[12],
  session = ARGV[13], submit_entry = entry, needs_export = ARGV[16],
  session_ttl = ARGV[17], require = ARGV[18], run_at = ARGV[19], delay_ms = ARGV[20],
  notify_url = #ARGV > 21 and ARGV[21] or ''})
ack()
return st
end)
