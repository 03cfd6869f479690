#!/bin/bash
# Fair claiming (docs/protocol.md section 17): priorities with aging, tenants taken in
# turn (weights), a per-tenant cap on running jobs, rate limits per tenant and per lane
# that wait without polling, a worker killed while running a tenant's job, and control
# commands on waiting jobs. Each part runs on a queue of its own on one real
# redis-server, with a real scheduler and real workers running sleep jobs.
. "$VODQ_TESTS/lib.sh"
redis_start

Q=default
qctl() { ctl --queue "$Q" "$@"; }
jf() { rcli HGET "vodq:{$Q}:job:$1" "$2"; }
spec() { # spec ID MS [extra top-level JSON fields]
  echo "{\"id\":\"$1\",\"type\":\"sleep\",\"sleep\":{\"ms\":$2}${3:+,$3}}"
}
# waiting TENANT: jobs of TENANT waiting in the sleep lane's ready set
waiting() { rcli ZCARD "vodq:{$Q}:ready:sleep:$1"; }
# is VALUE COMMAND...: the command prints VALUE (for wait_for, which runs it each time)
is() { [ "$("${@:2}")" = "$1" ]; }
wait_waiting() { wait_for "${3:-20}" is "$2" waiting "$1"; }
all_done() { local id; for id in "$@"; do [ "$(jf "$id" state)" = succeeded ] || return 1; done; }
# order ID...: the ids sorted by the time they started
order() { local id; for id in "$@"; do echo "$(jf "$id" started_at) $id"; done | sort -n | awk '{print $2}'; }
# phase QUEUE [scheduler args]: stops the previous part's programs, starts a scheduler
phase() {
  local pid
  for pid in "${T_PIDS[@]}"; do [ "$pid" != "$REDIS_PID" ] && kill "$pid" 2>/dev/null || true; done
  Q=$1
  start_scheduler "s_$Q" --queue "$Q" --tick-ms 100 "${@:2}"
}
worker() { start_worker "$1" --queue "$Q" --cache-dir "$T_DIR/cache" "${@:2}"; }

# --- 1. priorities and aging --------------------------------------------------------
phase prio
check "lane set sleep --aging-ms 500" qctl lane set sleep --aging-ms 500 >/dev/null
expect_eq "the lane is fair" 1 "$(rcli HGET 'vodq:{prio}:lane:sleep' fair)"
spec L 30 '"priority":0' | qctl submit - >/dev/null
spec M 30 '"priority":5' | qctl submit - >/dev/null
spec H1 30 '"priority":9' | qctl submit - >/dev/null
spec H2 30 '"priority":9' | qctl submit - >/dev/null
check "4 jobs wait in ready:sleep:default" wait_waiting default 4
expect_eq "the tenant of a job without one is default" default "$(jf L tenant)"
expect_eq "its priority is kept" 5 "$(jf M priority)"
expect_eq "one wake-up token per waiting job" 4 "$(rcli XLEN 'vodq:{prio}:tasks:sleep')"
# H3 comes more than 9 aging steps (4.5 s) after L: it must not pass L
sleep 5
spec H3 30 '"priority":9' | qctl submit - >/dev/null
check "H3 waits too" wait_waiting default 5
worker w_prio --slots-sleep 1
check "all five ran" wait_for 30 all_done L M H1 H2 H3
expect_eq "higher priority first; aging bounds how long L waits" "H1 H2 M L H3" \
  "$(order L M H1 H2 H3 | xargs)"

# --- 2. tenants in turn: 200 jobs of A do not hold back B's single job --------------
phase fair
for i in $(seq 200); do spec "a$i" 20 '"tenant":"A"'; done >"$T_DIR/a.jsonl"
qctl submit --bulk "$T_DIR/a.jsonl" >/dev/null
check "200 jobs of A wait" wait_waiting A 200 30
spec b1 20 '"tenant":"B"' | qctl submit - >/dev/null
check "B's job waits" wait_waiting B 1
worker w_fair --slots-sleep 2
check "B's job succeeded" wait_for 60 all_done b1
bstart=$(jf b1 started_at)
before=0
expect_eq "B's job has a start time" 1 "$([ -n "$bstart" ] && echo 1)"
bstart=${bstart:-0}
for i in $(seq 200); do
  s=$(jf "a$i" started_at)
  [ -n "$s" ] && [ "$s" -lt "$bstart" ] && before=$((before + 1))
done
check "at most one A job per busy slot (2) started before B's ($before)" test "$before" -le 2
check "all of A's jobs ran" wait_for 90 is 201 rcli HGET 'vodq:{fair}:stats' succeeded
expect_eq "no token is left in the stream" "0 0" "$(lane_depth 'vodq:{fair}:tasks:sleep')"
expect_eq "nothing counts as running" "" "$(rcli HGET 'vodq:{fair}:running' A)"
expect_eq "each ran once" "1 1" "$(jf a1 attempts) $(jf a200 attempts)"

# --- 3. weights: A weight 3, B weight 1 ---------------------------------------------
phase weights
check "tenant set A --weight 3" qctl tenant set A --weight 3 >/dev/null
expect_eq "stored as tenant:A weight" 3 "$(rcli HGET 'vodq:{weights}:tenant:A' weight)"
{ for i in $(seq 40); do spec "wa$i" 15 '"tenant":"A"'; done
  for i in $(seq 40); do spec "wb$i" 15 '"tenant":"B"'; done; } >"$T_DIR/w.jsonl"
qctl submit --bulk "$T_DIR/w.jsonl" >/dev/null
check "both wait" wait_for 20 is "40 40" eval 'echo $(waiting A) $(waiting B)'
worker w_weights --slots-sleep 1
ids=$(for i in $(seq 40); do echo "wa$i wb$i"; done)
# shellcheck disable=SC2086
check "all 80 ran" wait_for 60 all_done $ids
# shellcheck disable=SC2086
first=$(order $ids | head -40 | grep -c '^wa' || true)
check "3:1 while both wait: $first of the first 40 are A's (30 expected)" \
  test "$first" -ge 29 -a "$first" -le 31

# --- 4. running cap -------------------------------------------------------------------
phase cap
check "tenant set C --max-running 2" qctl tenant set C --max-running 2 >/dev/null
for i in $(seq 8); do spec "c$i" 400 '"tenant":"C"'; done >"$T_DIR/c.jsonl"
for i in $(seq 4); do spec "d$i" 400 '"tenant":"D"'; done >>"$T_DIR/c.jsonl"
qctl submit --bulk "$T_DIR/c.jsonl" >/dev/null
check "all wait" wait_for 20 is "8 4" eval 'echo $(waiting C) $(waiting D)'
worker w_cap --slots-sleep 6
check "all of C's and D's jobs ran" wait_for 30 all_done c1 c2 c3 c4 c5 c6 c7 c8 d1 d2 d3 d4
# most jobs running at once, from their start and finish times (Redis clock)
overlap() { local id; for id in "$@"; do echo "$(jf "$id" started_at) 1"; echo "$(jf "$id" finished_at) -1"; done |
  sort -k1,1n -k2,2n | awk '{n += $2; if (n > m) m = n} END {print m + 0}'; }
maxc=$(overlap c1 c2 c3 c4 c5 c6 c7 c8)
maxall=$(overlap c1 c2 c3 c4 c5 c6 c7 c8 d1 d2 d3 d4)
check "C never ran more than 2 at once (max seen $maxc)" test "$maxc" -le 2
check "C reached its cap (max seen $maxc)" test "$maxc" -eq 2
check "D used the other slots meanwhile (max seen $maxall at once)" test "$maxall" -gt 2
expect_eq "C's running count is back to none" "" "$(rcli HGET 'vodq:{cap}:running' C)"
expect_eq "no token owed" 0 "$(rcli HGET 'vodq:{cap}:lane:sleep' owed)"
out=$(qctl tenant show C --json)
check "tenant show C --json ($out)" python3 -c "
import json,sys; j=json.loads(sys.argv[1]); assert j['max_running']=='2' and j['running']==0, j" "$out"

# --- 5. tenant rate limit: count per window, and no polling while limited -----------
phase rate
check "tenant set E --rate 4/2s" qctl tenant set E --rate 4/2s >/dev/null
expect_eq "stored as rate/per_ms" "4 2000" \
  "$(rcli HGET 'vodq:{rate}:tenant:E' rate) $(rcli HGET 'vodq:{rate}:tenant:E' per_ms)"
worker w_rate --slots-sleep 4
for i in $(seq 12); do spec "e$i" 10 '"tenant":"E"'; done >"$T_DIR/e.jsonl"
qctl submit --bulk "$T_DIR/e.jsonl" >/dev/null
ids=$(seq -f 'e%g' 12)
# shellcheck disable=SC2086
check "all 12 ran" wait_for 40 all_done $ids
# shellcheck disable=SC2086
per=$(for id in $ids; do echo $(($(jf "$id" started_at) / 2000)); done | sort | uniq -c | awk '{print $1}' | sort -n | tail -1)
check "at most 4 started in any 2 s window (max $per)" test "$per" -le 4
# shellcheck disable=SC2086
wins=$(for id in $ids; do echo $(($(jf "$id" started_at) / 2000)); done | sort -u | wc -l)
check "so they took at least 3 windows ($wins)" test "$wins" -ge 3

# --- 5b. waiting under a rate limit costs no polling ---------------------------------
phase idle
qctl tenant set H --rate 2/20s >/dev/null
worker w_idle --slots-sleep 4
sleep 1.5
now_ms() { local t; t=($(rcli TIME)); echo $((t[0] * 1000 + t[1] / 1000)); }
rem=$((20000 - $(now_ms) % 20000))
[ "$rem" -lt 11000 ] && sleep "$(((rem + 300) / 1000)).$(((rem + 300) % 1000 / 100))"
win=$(($(now_ms) / 20000))
cmds() { rcli INFO commandstats | awk -F'[:=,]' '/^cmdstat_/ {n += $3} END {print n + 0}'; }
cpu() { awk '{print $14 + $15}' "/proc/$PID_w_idle/stat"; }
# what the worker alone does (the scheduler's ticks would dominate the count): every
# Redis command for 3 s with the scheduler stopped, idle first, then while jobs wait
stop() { kill "$1"; wait_for 10 eval "! kill -0 $1 2>/dev/null"; }
measure() { local c0 u0; c0=$(cmds) u0=$(cpu); sleep 3; echo "$(($(cmds) - c0 - 1)) $(($(cpu) - u0))"; }
stop "$PID_s_idle"
read -r idle idle_cpu < <(measure)
start_scheduler s_idle2 --queue idle --tick-ms 100
for i in $(seq 5); do spec "h$i" 10 '"tenant":"H"'; done >"$T_DIR/h.jsonl"
qctl submit --bulk "$T_DIR/h.jsonl" >/dev/null
check "the window's 2 jobs ran" wait_for 10 is 2 rcli HGET 'vodq:{idle}:stats' succeeded
check "3 tokens are owed" wait_for 5 is 3 rcli HGET 'vodq:{idle}:lane:sleep' owed
expect_eq "the lane's wake-up is due when the window reopens" $(((win + 1) * 20000)) \
  "$(rcli ZSCORE 'vodq:{idle}:delayed' '#sleep')"
stop "$PID_s_idle2"
read -r limited used < <(measure)
# idle: a blocking XREADGROUP per lane per --block-ms and a heartbeat script per second
# (about 25 commands a second, give or take one of each by phase); a worker polling for
# the limited jobs would add hundreds
check "waiting under a rate limit: the worker's Redis commands as when idle ($limited vs $idle in 3 s)" \
  test "$limited" -le $((idle * 3 / 2 + 10))
check "and no CPU to speak of ($used ticks in 3 s, $idle_cpu idle)" test "$used" -le 45
expect_eq "nothing else started" "2 3" "$(rcli HGET 'vodq:{idle}:stats' succeeded) $(waiting H)"
start_scheduler s_idle3 --queue idle --tick-ms 100
check "tenant set H --rate off" qctl tenant set H --rate off >/dev/null
check "the owed tokens come back and the rest run" wait_for 20 all_done h1 h2 h3 h4 h5

# --- 6. lane rate limit ---------------------------------------------------------------
phase lanerate
check "lane set sleep --rate 3/2s" qctl lane set sleep --rate 3/2s >/dev/null
expect_eq "lane hash" "1 3 2000" "$(rcli HMGET 'vodq:{lanerate}:lane:sleep' fair rate per_ms | xargs)"
for i in $(seq 9); do spec "l$i" 10; done >"$T_DIR/l.jsonl"
for i in $(seq 3); do spec "lt$i" 10 '"tenant":"T9"'; done >>"$T_DIR/l.jsonl"
qctl submit --bulk "$T_DIR/l.jsonl" >/dev/null
worker w_lanerate --slots-sleep 4
ids="$(seq -f 'l%g' 9) $(seq -f 'lt%g' 3)"
# shellcheck disable=SC2086
check "all 12 ran" wait_for 60 all_done $ids
# shellcheck disable=SC2086
per=$(for id in $ids; do echo $(($(jf "$id" started_at) / 2000)); done | sort | uniq -c | awk '{print $1}' | sort -n | tail -1)
check "at most 3 per 2 s window across tenants (max $per)" test "$per" -le 3
out=$(qctl lane show sleep --json)
check "lane show --json ($out)" python3 -c "
import json,sys; j=json.loads(sys.argv[1]); assert j['rate']=='3' and j['per_ms']=='2000', j" "$out"

# --- 7. a worker killed while it runs a capped tenant's job --------------------------
phase crash --lease-ms 2000 --worker-timeout-ms 2000
qctl tenant set F --max-running 1 >/dev/null
for i in 1 2 3; do spec "f$i" 1500 '"tenant":"F"'; done >"$T_DIR/f.jsonl"
qctl submit --bulk "$T_DIR/f.jsonl" >/dev/null
check "F's jobs wait" wait_waiting F 3
worker w_crash1 --slots-sleep 2 --heartbeat-ms 200
check "one of F's jobs runs" wait_for 20 is 1 rcli HGET 'vodq:{crash}:running' F
kill -9 "$PID_w_crash1"
worker w_crash2 --slots-sleep 2
check "all three ran after the crash" wait_for 60 all_done f1 f2 f3
stalls=$(for i in 1 2 3; do jf "f$i" stalls; done | awk '{n += $1} END {print n + 0}')
expect_eq "one attempt was lost to the kill" 1 "$stalls"
expect_eq "F's running count is back to none" "" "$(rcli HGET 'vodq:{crash}:running' F)"
expect_eq "no token left behind" "0 0" "$(lane_depth 'vodq:{crash}:tasks:sleep')"

# --- 8. cancel, pause, resume, remove of waiting jobs; a then child inherits ----------
phase ctl
for i in 1 2 3 4; do spec "g$i" 10 '"tenant":"G","priority":3'; done >"$T_DIR/g.jsonl"
echo '{"id":"gp","type":"sleep","sleep":{"ms":10},"tenant":"G","priority":7,"then":[{"type":"sleep","sleep":{"ms":10}}]}' >>"$T_DIR/g.jsonl"
qctl submit --bulk "$T_DIR/g.jsonl" >/dev/null
check "five wait" wait_waiting G 5
check "cancel g1" qctl cancel g1 >/dev/null
check "pause g2" qctl pause g2 >/dev/null
check "remove g3" qctl remove g3 >/dev/null
expect_eq "they left the ready set" 2 "$(waiting G)"
echo '{"id":"gg","type":"group","tenant":"G","priority":2,"group":{"jobs":[{"type":"sleep","sleep":{"ms":10}},{"type":"sleep","sleep":{"ms":10},"priority":8}]}}' | qctl submit - >/dev/null
check "a group's members wait as G's" wait_waiting G 4
worker w_ctl --slots-sleep 2
check "g4 and gp ran" wait_for 30 all_done g4 gp gp.then1
expect_eq "the then child kept the tenant" G "$(jf gp.then1 tenant)"
expect_eq "and the priority" 7 "$(jf gp.then1 priority)"
check "the group ran" wait_for 30 all_done gg gg.1 gg.2
expect_eq "its members kept its tenant and priority unless they named their own" "G 2 G 8" \
  "$(jf gg.1 tenant) $(jf gg.1 priority) $(jf gg.2 tenant) $(jf gg.2 priority)"
expect_eq "the group itself was never in a ready set" "" "$(jf gg ready)$(rcli EXISTS 'vodq:{ctl}:lane:group' | tr -d 0)"
sleep 0.5
expect_eq "cancelled g1 never ran" "cancelled " "$(jf g1 state) $(jf g1 started_at)"
expect_eq "paused g2 waits" paused "$(jf g2 state)"
expect_eq "removed g3 is gone" "" "$(jf g3 state)"
check "resume g2" qctl resume g2 >/dev/null
check "g2 ran after resume" wait_for 20 all_done g2
echo '{"type":"sleep","sleep":{"ms":1},"priority":10}' >"$T_DIR/bad.json"
if out=$(qctl submit "$T_DIR/bad.json" 2>&1); then not_ok "priority 10 accepted"; else
  check "priority 10 rejected, naming the field ($out)" grep -q 'priority: must be an integer 0..9' <<<"$out"
fi
echo '{"type":"sleep","sleep":{"ms":1},"tenant":"a:b"}' >"$T_DIR/bad.json"
if out=$(qctl submit "$T_DIR/bad.json" 2>&1); then not_ok "tenant a:b accepted"; else
  check "tenant a:b rejected ($out)" grep -q 'tenant: must be a string' <<<"$out"
fi
if qctl tenant set G --rate 5/fortnight 2>/dev/null; then not_ok "bad rate accepted"; else ok "bad --rate refused"; fi
t_done
