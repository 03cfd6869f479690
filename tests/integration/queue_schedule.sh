#!/bin/bash
# Recurring jobs (issue 15 item 4): vodqctl schedule add|list|remove, cron errors naming
# the field, exactly one job per slot with two schedulers against one Redis, the catch-up
# rules (latest, all, none) after downtime, no drift (next slot from the expression), and
# a real minute boundary fired once.
. "$VODQ_TESTS/lib.sh"
redis_start
start_scheduler s1
start_scheduler s2
sleep 0.3
P='vodq:{default}:'
SPEC='{"type":"sleep","sleep":{"ms":1}}'

# ---- errors ---------------------------------------------------------------------------
bad() { # bad DESCRIPTION EXPECTED-TEXT ARGS...: exit 1 and the text on stderr
  local d=$1 want=$2; shift 2
  set +e; err=$(ctl schedule add "$@" 2>&1); rc=$?; set -e
  check "$d: exit 1, '$want' ($err)" test "$rc" = 1 -a -n "$(grep -F -- "$want" <<<"$err")"
}
bad "hour out of range" "hour: 24 is out of range 0-23" x1 "0 24 * * *" "$SPEC"
bad "bad month name" "month: 'foo' is not a number or name" x1 "0 0 1 foo *" "$SPEC"
bad "bad step" "minute: bad step" x1 "*/0 * * * *" "$SPEC"
bad "four fields" "expected 5 fields" x1 "* * * *" "$SPEC"
bad "never fires" "never occurs" x1 "0 0 31 2 *" "$SPEC"
bad "invalid spec names the field" "sleep.ms: must be an integer" x1 "* * * * *" \
  '{"type":"sleep","sleep":{"ms":"x"}}'
bad "spec with an id" "must not set one" x1 "* * * * *" '{"id":"j","type":"sleep","sleep":{"ms":1}}'
bad "bad name" "schedule name" 'a b' "* * * * *" "$SPEC"
bad "bad catch-up" "--catch-up" x1 "* * * * *" "$SPEC" --catch-up sometimes
set +e; ctl schedule add x1 "* * * * *" >/dev/null 2>&1; rc=$?; set -e
expect_eq "missing SPEC: usage error (exit 2)" 2 "$rc"
expect_eq "nothing was stored" 0 "$(rcli ZCARD "${P}schedules")"

# ---- add, list, remove ----------------------------------------------------------------
echo "$SPEC" >"$T_DIR/spec.json"
out=$(ctl schedule add nightly "30 2 * * MON-FRI" "$T_DIR/spec.json")
check "add from a file ($out)" grep -q '^nightly: added, next slot ....-..-..T02:30:00Z$' <<<"$out"
dow=$(date -u -d "$(sed 's/.*next slot //' <<<"$out")" +%u)
check "its next slot is a weekday ($dow)" test "$dow" -le 5
out=$(ctl schedule add nightly "@daily" "$SPEC")
check "add again replaces ($out)" grep -q '^nightly: replaced, next slot ....-..-..T00:00:00Z$' <<<"$out"
ctl --json schedule list >"$T_DIR/list.json"
expect_eq "list --json: one schedule with its cron and rule" "nightly @daily latest" \
  "$(python3 -c 'import json,sys; l=json.load(open(sys.argv[1])); print(len(l) == 1 and l[0]["name"], l[0]["cron"], l[0]["catch_up"])' "$T_DIR/list.json")"
check "list (text) shows it" grep -q '^nightly ' <<<"$(ctl schedule list)"
expect_eq "remove" "nightly: removed" "$(ctl schedule remove nightly)"
set +e; err=$(ctl schedule remove nightly 2>&1); rc=$?; set -e
check "remove again: exit 1, no such schedule ($err)" test "$rc" = 1 -a -n "$(grep 'no such schedule' <<<"$err")"
expect_eq "its keys are gone" "0 0" "$(rcli ZCARD "${P}schedules") $(rcli EXISTS "${P}schedule:nightly")"

# ---- downtime: rewind next_at as if no scheduler had run -------------------------------
now_s=$(rcli TIME | head -1)
min=$((now_s / 60 * 60))
rewind() { # rewind NAME MS: the schedule's next slot becomes MS
  rcli HSET "${P}schedule:$1" next_at "$2" >/dev/null
  rcli ZADD "${P}schedules" "$2" "$1" >/dev/null
}
# stop both schedulers first so that nothing fires before every rewind is in place
kill "$PID_s1" "$PID_s2"; wait "$PID_s1" "$PID_s2" 2>/dev/null || true

for i in 1 2 3 4 5 6 7 8; do
  ctl schedule add "all$i" "* * * * *" "$SPEC" --catch-up all >/dev/null
  rewind "all$i" $(((min - 250 * 60) * 1000))
done
ctl schedule add late "* * * * *" "$SPEC" >/dev/null          # latest (default)
rewind late $(((min - 30 * 60) * 1000))
old=$(((min - 10 * 60) % 3600 / 60))                           # a minute of each hour, 10 min ago
ctl schedule add quiet "$old * * * *" "$SPEC" --catch-up none >/dev/null
rewind quiet $(((min - 10 * 60) * 1000))
ctl schedule add hourly "$old * * * *" "$SPEC" --catch-up latest >/dev/null
rewind hourly $(((min - 10 * 60) * 1000))

# three schedulers start at once and race for every slot ("all" fires at most 100 slots
# per call, so each schedule takes several calls, made by any of them)
start_scheduler s1 --log-level debug
start_scheduler s2 --log-level debug
start_scheduler s3 --log-level debug
jobs_of() { rcli --scan --pattern "${P}job:cron:$1:*" | wc -l; }
settled() { for i in 1 2 3 4 5 6 7 8; do [ "$(jobs_of "all$i")" -ge 251 ] || return 1; done; }
check "catch-up all: every schedule's slots submitted" wait_for 60 settled
sleep 2
for i in 1 2 3 4 5 6 7 8; do
  n=$(jobs_of "all$i")
  # 250 missed minutes plus the current one (251), or 252 if a minute passed meanwhile
  check "all$i: one job per slot, 251 or 252 ($n)" test "$n" -ge 251 -a "$n" -le 252
  expect_eq "all$i: fired counts the same" "$n" "$(rcli HGET "${P}schedule:all$i" fired)"
done
sched_events() { # scheduled events per job id prefix, and how many distinct jobs they name
  rcli EVAL "local n, seen, d = 0, {}, 0 for _,e in ipairs(redis.call('XRANGE',KEYS[1],'-','+')) do local f=e[2] local j,t for i=1,#f,2 do if f[i]=='job' then j=f[i+1] elseif f[i]=='type' then t=f[i+1] end end if t=='scheduled' and string.sub(j,1,#ARGV[1])==ARGV[1] then n=n+1 if not seen[j] then seen[j]=1 d=d+1 end end end return n..' '..d" 1 "${P}events" "$1"
}
read -r ev distinct <<<"$(sched_events cron:all)"
check "exactly one 'scheduled' event per job across three schedulers ($ev events, $distinct jobs)" \
  test "$ev" = "$distinct" -a "$ev" -ge 2008
echo "# fire steps lost to another scheduler: $(cat "$T_DIR"/s[123].log | grep -c ': raced (' || true);" \
  "schedulers that fired: $(grep -l 'schedule all' "$T_DIR"/s[123].log | wc -l)"
# the fire step itself: 20 clients send the same fire at once; one wins, 19 are refused
ctl schedule add race "0 0 1 1 *" "$SPEC" >/dev/null   # next 1 January: no scheduler fires it
nx=$(rcli HGET "${P}schedule:race" next_at)
SHA=$("$VODQ_BIN/vodqctl" functions eval schedule | rcli -x SCRIPT LOAD)
pids=()
for k in $(seq 1 20); do
  rcli EVALSHA "$SHA" 1 "${P}stats" "$P" 100000 604800 fire race "$nx" $((nx + 86400000)) 0 1 \
    "$nx" "cron:race:test" "" >"$T_DIR/race.$k" &
  pids+=("$!")
done
wait "${pids[@]}"
expect_eq "concurrent fire: one fired, 19 raced" "1 19" \
  "$(cat "$T_DIR"/race.* | grep -c '^fired$') $(cat "$T_DIR"/race.* | grep -c '^raced$')"
check "concurrent fire: one job" wait_state cron:race:test queued 10
read -r ev distinct <<<"$(sched_events cron:race:)"
expect_eq "concurrent fire: one scheduled event" "1 1" "$ev $distinct"
expect_eq "concurrent fire: next slot moved once" $((nx + 86400000)) "$(rcli HGET "${P}schedule:race" next_at)"

# (on a loaded machine the wait above may pass minute boundaries, where "late" fires its
# regular slots too: those are newer than the test's start minute)
late_slots=$(rcli --scan --pattern "${P}job:cron:late:*" | sed 's/.*cron:late://' | sort)
m0=$(date -u -d "@$min" +%Y%m%dT%H%M)
m1=$(date -u -d "@$((min + 60))" +%Y%m%dT%H%M)
expect_eq "catch-up latest: no job for the older missed slots" 0 \
  "$(printf '%s\n' "$late_slots" | awk -v m="$m0" 'NF && $1 < m' | wc -l)"
first=$(printf '%s\n' "$late_slots" | head -1)
check "latest: one job, the newest missed slot: the test's minute or the one after ($first)" \
  test "$first" = "$m0" -o "$first" = "$m1"
skipped=$(rcli HGET "${P}schedule:late" skipped)
check "latest: the older slots are counted as skipped ($skipped)" test "$skipped" -ge 29
expect_eq "catch-up none: nothing fired for a slot 10 minutes late" 0 "$(jobs_of quiet)"
expect_eq "catch-up none: the slot is counted as skipped" 1 "$(rcli HGET "${P}schedule:quiet" skipped)"
expect_eq "latest, hourly: the missed slot fired once" 1 "$(jobs_of hourly)"
expect_eq "its job id is the slot's" "cron:hourly:$(date -u -d @$((min - 600)) +%Y%m%dT%H%M)" \
  "$(rcli HGET "${P}schedule:hourly" last_job)"
nx=$(rcli HGET "${P}schedule:quiet" next_at)
expect_eq "no drift: the next slot is the expression's, an hour after the missed one" \
  $(((min - 600 + 3600) * 1000)) "$nx"
check "the jobs are real jobs (queued)" wait_state "cron:hourly:$(date -u -d @$((min - 600)) +%Y%m%dT%H%M)" queued 10

# ---- a real minute boundary, both schedulers running ---------------------------------
for i in 1 2 3 4 5 6 7 8; do ctl schedule remove "all$i" >/dev/null; done
out=$(ctl --json schedule add live "* * * * *" "$SPEC")
slot=$(python3 -c 'import json,sys; print(json.loads(sys.argv[1])["next_at"])' "$out")
expect_eq "live: the first slot is a whole minute" 0 $((slot % 60000))
id="cron:live:$(date -u -d @$((slot / 1000)) +%Y%m%dT%H%M)"
check "live: $id submitted at its slot" wait_state "$id" queued 100
read -r ev distinct <<<"$(sched_events "$id")"
expect_eq "live: one scheduled event for it" "1 1" "$ev $distinct"
created=$(job_field "$id" created_at)
check "live: created at or after its slot ($created >= $slot)" test "$created" -ge "$slot"
check "live: the next slot is the following minute" \
  test "$(rcli HGET "${P}schedule:live" next_at)" -ge $((slot + 60000))
t_done
