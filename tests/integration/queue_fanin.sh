#!/bin/bash
# Fan-in (issue 15): a job of type "group" creates its members at once, waits in
# waiting_members until every member has ended, then succeeds (all succeeded) or ends
# dead with code group_failed, and creates its "then" jobs with "$member:N" replaced by
# member N's export. Nested groups; fail_fast; then_on all_ended; cancel of a group;
# vodqctl status/list; and a replayed finishing call that must not count twice.
. "$VODQ_TESTS/lib.sh"
redis_start
start_scheduler s1
start_worker w1 --slots-sleep 8 --slots-compose 0 --slots-upload 0
sleep 0.3

ev_count() { # ev_count JOB STATE: state events of JOB with that state
  rcli EVAL "local n=0 for _,e in ipairs(redis.call('XRANGE',KEYS[1],'-','+')) do local f=e[2] local j,s,t for i=1,#f,2 do if f[i]=='job' then j=f[i+1] elseif f[i]=='state' then s=f[i+1] elseif f[i]=='type' then t=f[i+1] end end if j==ARGV[1] and t=='state' and s==ARGV[2] then n=n+1 end end return n" 1 'vodq:{default}:events' "$1" "$2"
}
jq_() { python3 -c "import json,sys; d=json.load(sys.stdin); print($1)"; }
S() { echo "{\"type\":\"sleep\",\"sleep\":{\"ms\":$1${2:+,$2}}${3:+,$3}}"; } # S MS [SLEEP FIELDS] [TOP]

# ---- 1. three members, then one job that gets member 2's export ----------------------
cat >"$T_DIR/g1.json" <<EOF
{"id":"g1","type":"group","group":{"jobs":[$(S 2500 '"output":"/exports/o1.mp4"'),
 $(S 1500 '"output":"/exports/o2.mp4"'), $(S 5000 '"output":"/exports/o3.mp4"')]},
 "then":[$(S 10 '"output":"$member:2"')]}
EOF
expect_eq "submit a group prints its id" g1 "$(ctl submit "$T_DIR/g1.json")"
check "g1 waits for its members" wait_state g1 waiting_members 10
expect_eq "list --state waiting_members finds it" g1 \
  "$(ctl list --state waiting_members --json | jq_ '" ".join(j["id"] for j in d)')"
expect_eq "g1 has 3 members" 3 "$(job_field g1 members)"
expect_eq "member g1.2 names its group" "g1 2" "$(job_field g1.2 group) $(job_field g1.2 group_index)"
expect_eq "member g1.3 is a sleep job" sleep "$(job_field g1.3 type)"
expect_eq "no then job before the members ended" 0 "$(rcli EXISTS 'vodq:{default}:job:g1.then1')"
out=$(ctl status g1)
check "status shows the group waiting ($(head -1 <<<"$out"))" grep -q "^g1 .*group .*waiting_members .*members 3" <<<"$out"
check "... and a line per member" test "$(grep -cE '^  g1\.[123] +sleep' <<<"$out")" = 3
check "g1 succeeds" wait_state g1 succeeded 30
for i in 1 2 3; do expect_eq "member g1.$i succeeded" succeeded "$(job_field g1.$i state)"; done
res=$(job_field g1 result)
expect_eq "g1's result lists 3 members, all succeeded" "3 3 0" \
  "$(jq_ 'len(d["members"]), d["succeeded"], d["failed"]' <<<"$res" | tr '\n' ' ' | sed 's/ $//')"
expect_eq "the result has each member's id, state and export" "g1.2 succeeded /exports/o2.mp4" \
  "$(jq_ '" ".join([d["members"][1]["id"], d["members"][1]["state"], d["members"][1]["export"]])' <<<"$res")"
check "the then job runs" wait_state g1.then1 succeeded 20
expect_eq "the then job took member 2's export" /exports/o2.mp4 \
  "$(job_field g1.then1 spec | jq_ 'd["sleep"]["output"]')"
expect_eq "the then job's parent is the group" g1 "$(job_field g1.then1 parent)"
last_end=$(for i in 1 2 3; do job_field g1.$i finished_at; done | sort -n | tail -1)
check "the then job was created after the last member ended" \
  test "$(job_field g1.then1 created_at)" -ge "$last_end"
expect_eq "one succeeded event for g1" 1 "$(ev_count g1 succeeded)"
out=$(ctl list)
check "list shows the group as type group" grep -q "^g1 .* group .*succeeded" <<<"$out"

# vodqctl watch follows a group until it ends
echo "{\"id\":\"wg\",\"type\":\"group\",\"group\":{\"jobs\":[$(S 400),$(S 800)]}}" | ctl submit - >/dev/null
set +e; timeout 60 "$VODQ_BIN/vodqctl" --redis "$REDIS_URL" watch wg --json >"$T_DIR/wg.out" 2>"$T_DIR/wg.err"; rc=$?; set -e
expect_eq "watch of a group exits 0 when it succeeds" 0 "$rc"
expect_eq "watch --json prints the final group" "succeeded 2" \
  "$(jq_ 'd["state"], d["result"]["succeeded"]' <"$T_DIR/wg.out" | tr '\n' ' ' | sed 's/ $//')"
check "watch showed the group waiting, then succeeded" \
  grep -q "waiting_members" "$T_DIR/wg.err"

# ---- 2. nested: a member that is a group with its own then; a then that is a group ----
cat >"$T_DIR/n1.json" <<EOF
{"id":"n1","type":"group","group":{"jobs":[$(S 100 '"output":"/e/a"'),
  {"type":"group","group":{"jobs":[$(S 200 '"output":"/e/b1"'), $(S 400 '"output":"/e/b2"')]},
   "then":[$(S 10 '"output":"$member:1"')]}]},
 "then":[{"type":"group","group":{"jobs":[$(S 10 '"output":"$member:1"'), $(S 10)]},
          "then":[$(S 10 '"output":"$member:1"')]}]}
EOF
ctl submit "$T_DIR/n1.json" >/dev/null
check "n1 succeeds" wait_state n1 succeeded 30
expect_eq "member n1.2 is a group of 2" "group 2" "$(job_field n1.2 type) $(job_field n1.2 members)"
expect_eq "its members ran" "succeeded succeeded" "$(job_field n1.2.1 state) $(job_field n1.2.2 state)"
check "the nested group's then job ran with its own member 1's export" \
  wait_state n1.2.then1 succeeded 20
expect_eq "n1.2.then1 output" /e/b1 "$(job_field n1.2.then1 spec | jq_ 'd["sleep"]["output"]')"
check "the then group n1.then1 succeeds" wait_state n1.then1 succeeded 20
expect_eq "its member took n1's member 1's export" /e/a \
  "$(job_field n1.then1.1 spec | jq_ 'd["sleep"]["output"]')"
check "the then of the then group runs" wait_state n1.then1.then1 succeeded 20
expect_eq "... with its own group's member 1's export" /e/a \
  "$(job_field n1.then1.then1 spec | jq_ 'd["sleep"]["output"]')"
expect_eq "n1's result holds member 2's (a group's) result" 2 \
  "$(job_field n1 result | jq_ 'd["members"][1]["result"]["total"]')"

# ---- 3. a member fails: the group ends dead, its then does not run --------------------
cat >"$T_DIR/f1.json" <<EOF
{"id":"f1","type":"group","group":{"jobs":[$(S 10),
  $(S 10 '"fail_times":5,"permanent":true' '"max_attempts":1'), $(S 300)]},
 "then":[$(S 10)]}
EOF
ctl submit "$T_DIR/f1.json" >/dev/null
check "f1 ends dead" wait_state f1 dead 30
expect_eq "code group_failed" group_failed "$(job_field f1 error_code)"
check "the error names the failed member ($(job_field f1 error))" \
  grep -q "1 of 3 members did not succeed: f1.2 dead" <<<"$(job_field f1 error)"
expect_eq "f1 waited for all members (f1.3 succeeded)" succeeded "$(job_field f1.3 state)"
sleep 0.5
expect_eq "no then job after a failed group" 0 "$(rcli EXISTS 'vodq:{default}:job:f1.then1')"
set +e; timeout 60 "$VODQ_BIN/vodqctl" --redis "$REDIS_URL" watch f1 >/dev/null 2>"$T_DIR/f1.err"; rc=$?; set -e
expect_eq "watch of a failed group exits 1" 1 "$rc"
check "... naming why ($(tail -1 "$T_DIR/f1.err"))" grep -q "vodqctl: job f1 dead: 1 of 3 members" "$T_DIR/f1.err"
check "the group is in the dead letters" sh -c "$VODQ_BIN/vodqctl --redis $REDIS_URL dead list | grep -q '^f1 '"
set +e; err=$(ctl retry f1 2>&1); rc=$?; set -e
check "a group is not retried (exit $rc: $err)" test "$rc" = 1 -a -n "$(grep 'retry its dead members' <<<"$err")"
set +e; err=$(echo '{"type":"group","group":{"jobs":[{"type":"sleep","sleep":{"ms":"x"}}]}}' | ctl submit - 2>&1); set -e
check "a bad member is named by its JSON path ($err)" grep -q "group.jobs\[0\]: sleep.ms" <<<"$err"
set +e; err=$(echo '{"type":"group","group":{"jobs":[]}}' | ctl submit - 2>&1); set -e
check "an empty group is refused ($err)" grep -q "group.jobs: must be an array of 1-100" <<<"$err"

# then_on all_ended: the then job runs although a member failed
cat >"$T_DIR/f2.json" <<EOF
{"id":"f2","type":"group","group":{"then_on":"all_ended","jobs":[$(S 10 '"output":"/e/ok"'),
  $(S 10 '"fail_times":5,"permanent":true' '"max_attempts":1')]},
 "then":[$(S 10 '"output":"$member:1"')]}
EOF
ctl submit "$T_DIR/f2.json" >/dev/null
check "f2 ends dead" wait_state f2 dead 30
check "its then job runs anyway (then_on all_ended)" wait_state f2.then1 succeeded 20

# fail_fast: the first failure ends the group and cancels the members still running
cat >"$T_DIR/f3.json" <<EOF
{"id":"f3","type":"group","group":{"fail_fast":true,"jobs":[$(S 60000),
  $(S 300 '"fail_times":5,"permanent":true' '"max_attempts":1')]}}
EOF
ctl submit "$T_DIR/f3.json" >/dev/null
check "f3 ends dead at the first failure" wait_state f3 dead 20
check "its long member is cancelled" wait_state f3.1 cancelled 20

# ---- 4. cancel of a group cancels its unfinished members -----------------------------
cat >"$T_DIR/c1.json" <<EOF
{"id":"c1","type":"group","group":{"jobs":[$(S 10), $(S 60000), $(S 60000)]},"then":[$(S 10)]}
EOF
ctl submit "$T_DIR/c1.json" >/dev/null
check "c1.1 succeeds" wait_state c1.1 succeeded 20
check "c1.2 runs" wait_state c1.2 active 20
expect_eq "cancel the group" "c1: cancelled" "$(ctl cancel c1)"
expect_eq "c1 cancelled" cancelled "$(job_field c1 state)"
check "its running member is cancelled" wait_state c1.2 cancelled 20
check "... and the other" wait_state c1.3 cancelled 20
expect_eq "the finished member stays succeeded" succeeded "$(job_field c1.1 state)"
sleep 0.5
expect_eq "no then job after a cancel" 0 "$(rcli EXISTS 'vodq:{default}:job:c1.then1')"
expect_eq "one cancelled event for c1" 1 "$(ev_count c1 cancelled)"

# a member of a group that waits for it cannot be removed (cancel it instead)
ctl submit "$T_DIR/g1.json" >/dev/null 2>&1 || true # a duplicate id: nothing happens
cat >"$T_DIR/r1.json" <<EOF
{"id":"rm1","type":"group","group":{"jobs":[$(S 60000), $(S 10 '' '"delay_ms":60000')]}}
EOF
ctl submit "$T_DIR/r1.json" >/dev/null
check "rm1.2 is delayed" wait_state rm1.2 delayed 20
set +e; err=$(ctl remove rm1.2 2>&1); rc=$?; set -e
check "removing a waited-for member is refused ($err)" test "$rc" = 1 -a -n "$(grep 'member of group rm1' <<<"$err")"
ctl cancel rm1 >/dev/null
check "rm1.2 cancelled with its group" wait_state rm1.2 cancelled 20

# ---- 5. a replayed finishing call does not count twice (the scripts called directly) --
Q='vodq:{rq}:'
rcli XGROUP CREATE "${Q}tasks:sleep" workers 0 MKSTREAM >/dev/null
M='{"type":"sleep","sleep":{"ms":0},"lane":"sleep","require":""}'
spec="{\"id\":\"rp\",\"type\":\"group\",\"group\":{\"jobs\":[$M,$M]},\"then\":[$M]}"
expect_eq "scripted group submit" waiting_members \
  "$(lua submit "x|1" rp group "$spec" queued "" 3 0 100 1000 "" "" group 0 60 "" "" "")"
claim=$(lua step "x|2" w1 sleep 5 0 0 "")
check "both members claimed" test "$(grep -c '^rp\.[12]$' <<<"$claim")" = 2
f1=$(rcli HGET "${Q}job:rp.1" fence); f2=$(rcli HGET "${Q}job:rp.2" fence)
a=$(lua step "x|3" w1 sleep 0 0 1 rp.1 "$f1" ok '{"slept_ms":0}' "" "" "" "" "" "")
b=$(lua step "x|3" w1 sleep 0 0 1 rp.1 "$f1" ok '{"slept_ms":0}' "" "" "" "" "" "")
expect_eq "the replay answers the same" "$a" "$b"
c=$(lua step "x|4" w1 sleep 0 0 1 rp.1 "$f1" ok '{"slept_ms":0}' "" "" "" "" "" "")
expect_eq "a second finish of the same attempt is 'done'" done "$c"
expect_eq "one member counted" "1 waiting_members 50" \
  "$(rcli HLEN "${Q}group:rp") $(rcli HGET "${Q}job:rp" state) $(rcli HGET "${Q}job:rp" progress)"
a=$(lua step "x|5" w1 sleep 0 0 1 rp.2 "$f2" ok '{"slept_ms":0}' "" "" "" "" "" "")
b=$(lua step "x|5" w1 sleep 0 0 1 rp.2 "$f2" ok '{"slept_ms":0}' "" "" "" "" "" "")
expect_eq "the last member's finish, replayed, answers the same" "$a" "$b"
expect_eq "the group succeeded" succeeded "$(rcli HGET "${Q}job:rp" state)"
expect_eq "succeeded counted 3 times (2 members + the group), not more" 3 \
  "$(rcli HGET "${Q}stats" succeeded)"
expect_eq "one then job, queued once" "queued 1 0" \
  "$(rcli HGET "${Q}job:rp.then1" state) $(lane_depth "${Q}tasks:sleep")"
Q='vodq:{default}:'

t_done
