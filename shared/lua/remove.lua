-- remove.lua: deletes one job that has ended or is still queued (or delayed), in one step,
-- so a queued job can never be both removed and run: its task entry is acknowledged and
-- deleted here, and a worker that read the entry already finds no job hash (step.lua drops
-- the entry). ARGV[4] job, [5] only in this state ('' any removable state), [6] only if it
-- ended (finished_at, else updated_at) at or before this time in ms ('' any), then the
-- request id. Returns the map status, state (the job's state before), message:
--   removed  the job hash and everything of it are gone (event 'removed')
--   refused  active, paused, waiting_auth, waiting_session or submitted, or an upload with
--            a checkpoint (an open multipart upload: cancel or retry it first)
--   skipped  not in the state asked for, or newer than the time asked for
--   missing  no such job
-- Keys: job:<id>, ckpt:<id> (refused when present), tasks:<lane> (XACK+XDEL of its
-- entry), delayed (ZREM), session:<S>:jobs/:open/:waiting (ZREM; a queued producer of a
-- session is ended without an export so the uploads waiting for it move on), stats
-- (removed +1), events.
return once(function()
local job, want, before = ARGV[4], ARGV[5], tonumber(ARGV[6] or '')
local jk = p .. 'job:' .. job
local h = load(jk, {'state', 'task', 'lane', 'session', 'session_seq', 'finished_at',
  'updated_at', 'group'})
local st = h.state
local function answer(status, msg) return {'status', status, 'state', st or '', 'message', msg} end
if not st then return answer('missing', 'no such job: ' .. job) end
if want ~= '' and st ~= want then return answer('skipped', 'state ' .. st) end
if before and int(h.finished_at, int(h.updated_at, 0)) > before then
  return answer('skipped', 'newer than asked')
end
if not (ENDED[st] or st == 'queued' or st == 'delayed') then
  return answer('refused', 'job ' .. job .. ' is ' .. st ..
    ': only finished, queued or delayed jobs can be removed (cancel it first)')
end
if h.group and not ENDED[st] and
    redis.call('HGET', p .. 'job:' .. h.group, 'state') == 'waiting_members' then
  return answer('refused', 'job ' .. job .. ' is a member of group ' .. h.group ..
    ', which waits for it: cancel it instead')
end
if redis.call('EXISTS', p .. 'ckpt:' .. job) == 1 then
  return answer('refused', 'job ' .. job .. ' has an upload checkpoint (an open multipart ' ..
    'upload): cancel or retry it first, or let it expire')
end
if h.task and h.lane and string.match(h.lane, '^[a-z][a-z0-9_]*$') then
  redis.call('XACK', p .. 'tasks:' .. h.lane, 'workers', h.task)
  redis.call('XDEL', p .. 'tasks:' .. h.lane, h.task)
end
redis.call('ZREM', p .. 'delayed', job)
if h.lane then fair_unready(job, jk, h.lane) end
local s = h.session
if s and s ~= '' then
  if not ENDED[st] and h.session_seq then
    session_ended(s, job, int(h.session_seq, 0), '')
  end
  redis.call('ZREM', session_key(s, ':jobs'), job)
  redis.call('ZREM', session_key(s, ':waiting'), job)
end
redis.call('DEL', jk, p .. 'group:' .. job)
count('removed')
emit(job, 'removed', st, '{}')
return answer('removed', 'removed (was ' .. st .. ')')
end)
