-- hook.lua: webhook deliveries (docs/protocol.md §14). terminal() in common.lua queues one
-- delivery per job end (succeeded, dead, cancelled) of a job with a notify_url:
-- hooks (zset member "<job>|<state>|<ms>" -> due time, ms) and hook:<member> (hash: job,
-- state, url, attempts, created_at). ARGV[4] op, then:
--   claim N LEASE_MS   takes up to N due deliveries: each is leased (its score moves to
--                      now + LEASE_MS, so no other scheduler takes it meanwhile; a
--                      scheduler that dies leaves it to be taken again after the lease)
--                      and its attempts counted. Returns a list of
--                      {member, job, state, url, attempt}.
--   done MEMBER ATTEMPT OUTCOME STATUS ERROR RETRY_IN_MS
--                      records the attempt as an event 'webhook' of the job; OUTCOME
--                      'sent' or 'failed' ends the delivery (keys deleted), 'retry'
--                      makes it due again in RETRY_IN_MS. A stale report (the delivery
--                      was taken again since) only records its event. Returns ok|stale.
-- then the request id.
return once(function()
local op = ARGV[4]
local zk = p .. 'hooks'
if op == 'claim' then
  local n, lease = tonumber(ARGV[5]), tonumber(ARGV[6])
  local due = redis.call('ZRANGEBYSCORE', zk, '-inf', NOW, 'LIMIT', 0, n)
  local out = {}
  for _, m in ipairs(due) do
    local hk = p .. 'hook:' .. m
    local h = redis.call('HMGET', hk, 'job', 'state', 'url')
    if not h[1] or not h[3] then
      redis.call('ZREM', zk, m)
      redis.call('DEL', hk)
    else
      redis.call('ZADD', zk, NOW + lease, m)
      local a = redis.call('HINCRBY', hk, 'attempts', 1)
      out[#out + 1] = {m, h[1], h[2], h[3], tostring(a)}
    end
  end
  return out
elseif op == 'done' then
  local m, att, outcome = ARGV[5], ARGV[6], ARGV[7]
  local hk = p .. 'hook:' .. m
  local h = redis.call('HMGET', hk, 'job', 'state', 'attempts')
  local job = h[1] or string.match(m, '^([^|]*)')
  local data = {attempt = tonumber(att), outcome = outcome, status = tonumber(ARGV[8]) or 0}
  if ARGV[9] ~= '' then data.error = ARGV[9] end
  if outcome == 'retry' then data.retry_in_ms = tonumber(ARGV[10]) end
  local stale = h[3] ~= att
  if stale then data.stale = true end
  emit(job, 'webhook', h[2] or '', cjson.encode(data))
  if stale then return 'stale' end
  if outcome == 'retry' then
    redis.call('ZADD', zk, NOW + tonumber(ARGV[10]), m)
  else
    redis.call('ZREM', zk, m)
    redis.call('DEL', hk)
  end
  return 'ok'
end
return redis.error_reply('hook.lua: unknown op ' .. tostring(op))
end)
