#!/bin/bash
# Batch backends (issue 15): bulk submit (vodqctl submit --bulk, vodq_submit_many) with a
# result per line, and removal (vodqctl remove, purge).
. "$VODQ_TESTS/lib.sh"
redis_start
start_scheduler s1
sleep 0.3

# ---- bulk submit: one result line per input line, in order -------------------------
B=$T_DIR/bulk.jsonl
{
  echo '{"id":"b1","type":"sleep","sleep":{"ms":10}}'
  echo '{"id":"b2","type":"sleep","sleep":{"ms":"x"}}'
  echo 'not json'
  echo '{"type":"sleep","sleep":{"ms":10}}'
  echo ''
  echo '{"id":"b6","type":"sleep","sleep":{"ms":10}}'
} >"$B"
set +e
out=$(ctl submit --bulk "$B" 2>"$T_DIR/bulk.err"); rc=$?
set -e
expect_eq "bulk: exit 1 when a line failed" 1 "$rc"
expect_eq "bulk: one output line per input line" 6 "$(wc -l <<<"$out")"
expect_eq "bulk: line 1 prints its id" b1 "$(sed -n 1p <<<"$out")"
check "bulk: line 2 names the line and the JSON path ($(sed -n 2p <<<"$out"))" \
  grep -q '^error: line 2: sleep.ms' <<<"$(sed -n 2p <<<"$out")"
check "bulk: line 3 (bad JSON) names the line" grep -q '^error: line 3: ' <<<"$(sed -n 3p <<<"$out")"
gen=$(sed -n 4p <<<"$out")
check "bulk: line 4 gets a generated id ($gen)" grep -qE '^[A-Za-z0-9_.:-]{20,}$' <<<"$gen"
check "bulk: the empty line 5 is an error" grep -q '^error: line 5: ' <<<"$(sed -n 5p <<<"$out")"
expect_eq "bulk: line 6 prints its id" b6 "$(sed -n 6p <<<"$out")"
check "bulk: summary on stderr" grep -q "3 of 6 line(s) not submitted" "$T_DIR/bulk.err"
check "bulk: b1 queued" wait_state b1 queued 10
check "bulk: generated id queued" wait_state "$gen" queued 10
expect_eq "bulk: the bad line b2 was not submitted" "" "$(job_field b2 state)"

# stdin, and more lines than one pipelined batch; all good: exit 0
python3 -c '
for i in range(1100): print("{\"id\":\"m%d\",\"type\":\"sleep\",\"sleep\":{\"ms\":1}}" % i)' \
  | ctl submit --bulk - >"$T_DIR/many.out"
expect_eq "bulk from stdin: 1100 ids in order" "m0 m1049 m1099" \
  "$(sed -n '1p;1050p;1100p' "$T_DIR/many.out" | tr '\n' ' ' | sed 's/ $//')"
check "bulk: the last one is queued" wait_state m1099 queued 20
expect_eq "bulk: 1100 submitted" 1100 "$(grep -c '^m' "$T_DIR/many.out")"


# ---- removal ----------------------------------------------------------------------
ev_count() { # ev_count JOB STATE: events of JOB with that state
  rcli EVAL "local n=0 for _,e in ipairs(redis.call('XRANGE',KEYS[1],'-','+')) do local f=e[2] local j,s,t for i=1,#f,2 do if f[i]=='job' then j=f[i+1] elseif f[i]=='state' then s=f[i+1] elseif f[i]=='type' then t=f[i+1] end end if j==ARGV[1] and (s==ARGV[2] or t==ARGV[2]) then n=n+1 end end return n" 1 'vodq:{default}:events' "$1" "$2"
}
echo '{"id":"r1","type":"sleep","sleep":{"ms":10}}' | ctl submit - >/dev/null
check "r1 queued" wait_state r1 queued 10
task=$(job_field r1 task)
out=$(ctl remove r1)
expect_eq "remove a queued job" "r1: removed" "$out"
expect_eq "its job hash is gone" 0 "$(rcli EXISTS 'vodq:{default}:job:r1')"
expect_eq "its task entry is gone" "" "$(rcli XRANGE 'vodq:{default}:tasks:sleep' "$task" "$task")"
expect_eq "a removed event" 1 "$(ev_count r1 removed)"
set +e; err=$(ctl remove r1 2>&1); rc=$?; set -e
check "remove again: no such job, exit 1 ($err)" test "$rc" = 1 -a -n "$(grep 'no such job' <<<"$err")"

start_worker w1 --slots-sleep 8 --slots-compose 0 --slots-upload 0
check "the bulk jobs run (m1099 succeeds)" wait_state m1099 succeeded 60
check "b1 succeeds" wait_state b1 succeeded 10
expect_eq "the removed queued job never ran" "0 0" "$(ev_count r1 active) $(rcli EXISTS 'vodq:{default}:job:r1')"

# an active job is refused, and keeps running
echo '{"id":"a1","type":"sleep","sleep":{"ms":20000}}' | ctl submit - >/dev/null
check "a1 active" wait_state a1 active 10
set +e; err=$(ctl remove a1 2>&1); rc=$?; set -e
expect_eq "remove an active job: exit 1" 1 "$rc"
check "the refusal says why ($err)" grep -q "is active.*cancel it first" <<<"$err"
expect_eq "a1 still active" active "$(job_field a1 state)"
ctl cancel a1 >/dev/null
check "a1 cancelled" wait_state a1 cancelled 10

# a finished job
ctl remove b1 >/dev/null
expect_eq "remove a succeeded job" 0 "$(rcli EXISTS 'vodq:{default}:job:b1')"
check "status of a removed job fails" sh -c "! $VODQ_BIN/vodqctl --redis $REDIS_URL status b1 2>/dev/null"

# ---- purge by state and age -------------------------------------------------------
echo '{"id":"d1","type":"sleep","sleep":{"ms":10,"fail_times":5,"permanent":true}}' | ctl submit - >/dev/null
check "d1 dead" wait_state d1 dead 10
sleep 2.5
echo '{"id":"d2","type":"sleep","sleep":{"ms":10,"fail_times":5,"permanent":true}}' | ctl submit - >/dev/null
check "d2 dead" wait_state d2 dead 10
out=$(ctl purge --state dead --older-than 2s)
expect_eq "purge dead older than 2s" "purged 1 dead job(s) older than 2s" "$out"
expect_eq "d1 (older) gone, d2 (newer) kept" "0 dead" "$(rcli EXISTS 'vodq:{default}:job:d1') $(job_field d2 state)"
expect_eq "succeeded jobs untouched by a dead purge" succeeded "$(job_field m5 state)"
out=$(ctl purge --state succeeded --older-than 0s --json)
expect_eq "purge every succeeded job (1100 m*, b6, the generated one)" '{"state":"succeeded","removed":1102,"refused":0}' "$out"
expect_eq "the cancelled job stays" cancelled "$(job_field a1 state)"

# ---- jobs created delayed (delay_ms, run_at) --------------------------------------
echo '{"id":"t1","type":"sleep","delay_ms":1500,"sleep":{"ms":1}}' | ctl submit - >/dev/null
check "t1 created delayed" wait_state t1 delayed 10
due=$(job_field t1 run_at)
expect_eq "t1 in the delayed zset at its run_at" "$due" "$(rcli ZSCORE 'vodq:{default}:delayed' t1)"
check "t1 runs once due" wait_state t1 succeeded 10
check "t1 started no earlier than its run_at ($(job_field t1 started_at) >= $due)" \
  test "$(job_field t1 started_at)" -ge "$due"
echo "{\"id\":\"t2\",\"type\":\"sleep\",\"run_at\":$(( $(date +%s) * 1000 - 1000 )),\"sleep\":{\"ms\":1}}" | ctl submit - >/dev/null
check "a run_at in the past runs at once" wait_state t2 succeeded 10
echo "{\"id\":\"t3\",\"type\":\"sleep\",\"run_at\":$(( $(date +%s) * 1000 + 3600000 )),\"sleep\":{\"ms\":1}}" | ctl submit - >/dev/null
check "t3 (an hour ahead) delayed" wait_state t3 delayed 10
ctl remove t3 >/dev/null
expect_eq "remove a delayed job: gone from the delayed zset" "0 " \
  "$(rcli EXISTS 'vodq:{default}:job:t3') $(rcli ZSCORE 'vodq:{default}:delayed' t3)"
set +e
err=$(echo '{"type":"sleep","sleep":{"ms":1},"then":[{"type":"sleep","delay_ms":5,"sleep":{"ms":1}}]}' | ctl submit - 2>&1 >/dev/null)
set -e
check "delay_ms in a then child is refused ($err)" grep -q 'then\[0\]: delay_ms and run_at' <<<"$err"
set +e; err=$(echo '{"type":"sleep","delay_ms":-1,"sleep":{"ms":1}}' | ctl submit - 2>&1 >/dev/null); set -e
check "a negative delay_ms names the field ($err)" grep -q 'delay_ms: ' <<<"$err"

set +e; ctl purge --state active --older-than 1d 2>/dev/null; rc=$?; set -e
expect_eq "purge --state active: usage error" 2 "$rc"

t_done
