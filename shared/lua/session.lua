-- session.lua: release a session: cancel its unfinished jobs, delete its keys and keep
-- a tombstone (session:<S> with released=1) for the session's ttl, so that later calls
-- for it fail with "session released".
-- ARGV[4] session, then the request id.
-- Returns the map status ('ok'|'err'), message, cancelled (count), exports (a list of
-- the export paths the session produced, for the caller to delete if asked).
return once(function()
local s = ARGV[4]
local sk = session_key(s)
if redis.call('EXISTS', sk) == 0 then
  return {'status', 'err', 'message', 'no such session: ' .. s, 'cancelled', 0, 'exports', {}}
end
if session_released(s) then
  return {'status', 'err', 'message', 'session ' .. s .. ': session released',
    'cancelled', 0, 'exports', {}}
end
local ttl = int(redis.call('HGET', sk, 'ttl'), 604800)
-- mark first: jobs that end while being cancelled must not touch the session's keys
redis.call('HSET', sk, 'released', '1', 'released_at', NOW, 'updated_at', NOW)
local n = 0
for _, job in ipairs(redis.call('ZRANGE', session_key(s, ':jobs'), 0, -1)) do
  if cancel_job(job) then n = n + 1 end
end
local exports = redis.call('HVALS', session_key(s, ':paths'))
for _, part in ipairs(SESSION_PARTS) do
  if part ~= '' then redis.call('DEL', session_key(s, part)) end
end
redis.call('DEL', sk)
redis.call('HSET', sk, 'released', '1', 'released_at', NOW, 'updated_at', NOW)
redis.call('EXPIRE', sk, ttl)
return {'status', 'ok', 'message', 'released', 'cancelled', n, 'exports', exports}
end)
