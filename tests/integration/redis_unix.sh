#!/bin/bash
# unix:///path: scheduler, worker and vodqctl through a unix socket (with a
# password and a database number in the URL); jobs run and control works.
. "$VODQ_TESTS/lib.sh"
SOCK=$T_DIR/redis.sock
mkdir -p "$T_DIR/redis"
redis-server --port 0 --unixsocket "$SOCK" --unixsocketperm 700 --dir "$T_DIR/redis" \
  --requirepass 's3cr@t' --save '' --appendonly no --daemonize no --logfile "$T_DIR/redis.log" &
T_PIDS+=("$!")
rcli() { redis-cli -s "$SOCK" -a 's3cr@t' --no-auth-warning -n 2 "$@"; }
wait_for 10 bash -c "redis-cli -s '$SOCK' -a 's3cr@t' --no-auth-warning ping 2>/dev/null | grep -q PONG"
REDIS_URL="unix://:s3cr%40t@$SOCK?db=2"
start_scheduler s1
start_worker w1 --slots-sleep 4
ids=()
for i in $(seq 8); do ids+=("$(submit_sleep 50)"); done
check "8 jobs succeed through the unix socket (database 2)" wait_for 30 all_state succeeded "${ids[@]}"
long=$(submit_sleep 5000)
check "long job active" wait_state "$long" active 10
check "cancel through the unix socket" ctl cancel "$long"
check "cancelled" wait_state "$long" cancelled 10
expect_eq "nothing in database 0" "0" "$(redis-cli -s "$SOCK" -a 's3cr@t' --no-auth-warning dbsize)"
out=$("$VODQ_BIN/vodqctl" --redis "unix:///nonexistent/redis.sock" stats 2>&1) && rc=0 || rc=$?
echo "# $out"
check "a missing socket is named" bash -c "[ $rc -ne 0 ] && grep -q '/nonexistent/redis.sock: connect' <<<'$out'"
check "the password is not shown" bash -c "! grep -rq 's3cr' '$T_DIR'/*.log"
t_done
