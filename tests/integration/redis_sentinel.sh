#!/bin/bash
# redis+sentinel://: a master, a replica and three redis-sentinel processes,
# all with a password (the URL's, also sent to the sentinels on NOAUTH);
# a scheduler and a worker find the master through the sentinels. The master
# is killed mid-run: the sentinels promote the replica, the programs follow
# the failover, no job is lost and none completes twice (one succeeded event
# per job).
. "$VODQ_TESTS/lib.sh"
mkdir -p "$T_DIR/redis" "$T_DIR/replica"
redis_start --appendonly no
M_PORT=$REDIS_PORT M_PID=$REDIS_PID
redis-cli -p "$M_PORT" config set masterauth pw >/dev/null
redis-cli -p "$M_PORT" config set requirepass pw >/dev/null
export REDISCLI_AUTH=pw # every redis-cli below, rcli and job_field included
R_PORT=$(free_port)
redis-server --port "$R_PORT" --bind 127.0.0.1 --dir "$T_DIR/replica" --save '' \
  --appendonly no --replicaof 127.0.0.1 "$M_PORT" --masterauth pw --requirepass pw \
  --daemonize no --logfile "$T_DIR/replica.log" &
T_PIDS+=("$!")
wait_for 20 bash -c "redis-cli -p $R_PORT info replication | grep -q 'master_link_status:up'"
S_PORTS=()
for i in 1 2 3; do
  p=$(free_port)
  S_PORTS+=("$p")
  cat >"$T_DIR/sentinel$i.conf" <<EOF
port $p
bind 127.0.0.1
dir $T_DIR
sentinel monitor vm 127.0.0.1 $M_PORT 2
sentinel auth-pass vm pw
requirepass pw
sentinel sentinel-pass pw
sentinel down-after-milliseconds vm 1000
sentinel failover-timeout vm 10000
sentinel parallel-syncs vm 1
EOF
  redis-sentinel "$T_DIR/sentinel$i.conf" --daemonize no --logfile "$T_DIR/sentinel$i.log" &
  T_PIDS+=("$!")
done
sentinels_ready() {
  local p
  for p in "${S_PORTS[@]}"; do
    redis-cli -p "$p" sentinel master vm 2>/dev/null | grep -A1 -x num-other-sentinels | grep -qx 2 ||
      return 1
    redis-cli -p "$p" sentinel replicas vm 2>/dev/null | grep -q "$R_PORT" || return 1
  done
}
check "three sentinels see each other and the replica" wait_for 30 sentinels_ready

readonly_named() {
  local out rc=0
  out=$(echo '{"type":"sleep","sleep":{"ms":1}}' |
    "$VODQ_BIN/vodqctl" --redis "redis://:pw@127.0.0.1:$R_PORT" submit - 2>&1) || rc=$?
  echo "# $out"
  [ "$rc" -ne 0 ] && grep -q "READONLY: the server is a replica now" <<<"$out"
}
check "a write to a replica reads as READONLY (connection dropped)" readonly_named

REDIS_URL="redis+sentinel://:pw@127.0.0.1:${S_PORTS[0]},127.0.0.1:${S_PORTS[1]},127.0.0.1:${S_PORTS[2]}/vm"
start_scheduler s1 --lease-ms 3000 --worker-timeout-ms 2000
ids=()
for i in $(seq 30); do ids+=("$(submit_sleep 800)"); done
# every submitted job is on the replica before the master dies (replication
# is asynchronous: a write the replica never got is lost by any client)
wait_for 20 bash -c "[ \$(redis-cli -p $R_PORT keys 'vodq:*job:*' | wc -l) -ge 30 ]"
start_worker w1 --slots-sleep 4
wait_for 20 bash -c "[ \$(redis-cli -p $M_PORT hget 'vodq:{default}:stats' succeeded) -ge 4 ] 2>/dev/null" || true
done_before=$(redis-cli -p "$M_PORT" hget 'vodq:{default}:stats' succeeded)
kill -9 "$M_PID"
check "the master dies mid-run ($done_before of 30 done)" [ "$done_before" -gt 0 -a "$done_before" -lt 30 ]
promoted() {
  redis-cli -p "$R_PORT" role 2>/dev/null | head -1 | grep -qx master &&
    redis-cli -p "${S_PORTS[0]}" sentinel get-master-addr-by-name vm | grep -qx "$R_PORT"
}
check "the sentinels promote the replica" wait_for 30 promoted
REDIS_PORT=$R_PORT # job_field, rcli and ctl-free checks read the new master
for i in $(seq 5); do ids+=("$(submit_sleep 20)"); done
check "all 35 jobs, before and after the failover, succeed" wait_for 90 all_state succeeded "${ids[@]}"
lost=0
for id in "${ids[@]}"; do [ -n "$(job_field "$id" state)" ] || lost=$((lost + 1)); done
expect_eq "no job lost" "0" "$lost"
# succeeded events per job on the new master
twice=$(redis-cli -p "$R_PORT" --raw XRANGE 'vodq:{default}:events' - + | python3 -c '
import sys, collections
lines = [l.rstrip("\n") for l in sys.stdin]
n = collections.Counter()
job = typ = state = None
for i in range(len(lines) - 1):
    k, v = lines[i], lines[i + 1]
    if k == "job": job = v
    elif k == "type": typ = v
    elif k == "state": state = v
    elif k == "ts":
        if typ == "state" and state == "succeeded": n[job] += 1
        job = typ = state = None
print(sum(1 for c in n.values() if c > 1), len(n))')
expect_eq "no job succeeded twice (jobs twice, jobs with a succeeded event)" "0 35" "$twice"
check "the worker logged the failover" grep -q "redis 127.0.0.1:$M_PORT" "$T_DIR/w1.log"
check "worker still running" kill -0 "$PID_w1"
check "scheduler still running" kill -0 "$PID_s1"
unknown_master() {
  local out rc=0
  out=$("$VODQ_BIN/vodqctl" --redis "redis+sentinel://:pw@127.0.0.1:${S_PORTS[1]}/nosuch" stats 2>&1) ||
    rc=$?
  echo "# $out"
  [ "$rc" -ne 0 ] && grep -q "no master named 'nosuch'" <<<"$out"
}
check "an unknown master name is named" unknown_master
nopw() {
  local out rc=0
  out=$("$VODQ_BIN/vodqctl" --redis "redis+sentinel://127.0.0.1:${S_PORTS[2]}/vm" stats 2>&1) || rc=$?
  echo "# $out"
  [ "$rc" -ne 0 ] && grep -q "NOAUTH" <<<"$out"
}
check "without the password the sentinel's NOAUTH is shown" nopw
t_done
