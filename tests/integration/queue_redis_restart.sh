#!/bin/bash
# Redis restarted mid-run (appendonly): no acknowledged job lost; the worker
# and scheduler reconnect by themselves; after a FUNCTION FLUSH they load the
# scripts' library again.
. "$VODQ_TESTS/lib.sh"
redis_start --appendonly yes --appendfsync always
start_scheduler s1
start_worker w1 --slots-sleep 4
ids=()
for i in $(seq 40); do ids+=("$(submit_sleep 100)"); done
sleep 0.6
rcli SHUTDOWN >/dev/null 2>&1 || true
wait "$REDIS_PID" 2>/dev/null || true
sleep 1
redis-server --port "$REDIS_PORT" --bind 127.0.0.1 --dir "$T_DIR/redis" --save '' \
  --appendonly yes --appendfsync always --daemonize no --logfile "$T_DIR/redis2.log" &
REDIS_PID=$!; T_PIDS+=("$REDIS_PID")
wait_for 10 bash -c "redis-cli -p $REDIS_PORT ping >/dev/null 2>&1"
for i in $(seq 10); do ids+=("$(submit_sleep 50)"); done
all_ok() { local id; for id in "${ids[@]}"; do [ "$(job_field "$id" state)" = succeeded ] || return 1; done; }
check "all 50 jobs, before and after the restart, succeed" wait_for 60 all_ok
lost=0; for id in "${ids[@]}"; do [ -n "$(job_field "$id" state)" ] || lost=$((lost + 1)); done
expect_eq "no acknowledged job lost" "0" "$lost"
check "the restarted server has the scripts' library again (from the AOF or reloaded)" \
  bash -c "redis-cli -p $REDIS_PORT FUNCTION LIST | grep -q '^vodq_'"
# an operator flushes the functions under running programs: they load the library again
rcli FUNCTION FLUSH >/dev/null
ids=(); for i in $(seq 5); do ids+=("$(submit_sleep 10)"); done
check "after FUNCTION FLUSH the jobs still succeed" wait_for 30 all_ok
check "and the library is back" bash -c "redis-cli -p $REDIS_PORT FUNCTION LIST | grep -q '^vodq_'"
check "worker still running" kill -0 "$PID_w1"
check "scheduler still running" kill -0 "$PID_s1"
t_done
