#!/bin/bash
# kill -9 of a worker mid-task; SIGTERM hands tasks back at once; fencing.
. "$VODQ_TESTS/lib.sh"
LEASE_MS=4000
redis_start
start_scheduler s1 --lease-ms $LEASE_MS --worker-timeout-ms 3000 --tick-ms 100
start_worker w1 --slots-sleep 1 --heartbeat-ms 500

id=$(submit_sleep 2000)
check "task starts on w1" wait_state "$id" active 10
expect_eq "running on w1" "w1" "$(job_field "$id" worker)"
start_worker w2 --slots-sleep 1 --heartbeat-ms 500
kill -9 "$PID_w1"
t0=$(date +%s)
check "task completes on another worker within lease + 5 s" wait_state "$id" succeeded $(( LEASE_MS / 1000 + 5 ))
t1=$(date +%s)
expect_eq "completed by w2" "w2" "$(job_field "$id" worker)"
echo "# kill -9 to completion: $((t1 - t0)) s"
expect_eq "two attempts" "2" "$(job_field "$id" attempts)"

# SIGTERM: the running task is handed back at once, not after the lease
id2=$(submit_sleep 30000)
check "long task starts on w2" wait_state "$id2" active 10
start_worker w3 --slots-sleep 1 --heartbeat-ms 500
sleep 0.3
t0=$(date +%s%N)
kill -TERM "$PID_w2"
check "after SIGTERM the task runs on w3 within 3 s" wait_for 3 bash -c "[ \"\$(redis-cli -p $REDIS_PORT HGET 'vodq:{default}:job:$id2' worker)\" = w3 ]"
t1=$(date +%s%N)
echo "# SIGTERM to restart elsewhere: $(( (t1 - t0) / 1000000 )) ms"
expect_eq "a hand-back does not count as an attempt" "1" "$(job_field "$id2" attempts)"
check "w2 exits" wait_for 10 bash -c "! kill -0 $PID_w2 2>/dev/null"
ctl cancel "$id2" >/dev/null
wait_state "$id2" cancelled 5

# Fencing: a worker frozen past its lease loses the job; when it wakes its
# writes are refused and the newer attempt's result stands.
id3=$(submit_sleep 1500)
check "task starts on w3" wait_state "$id3" active 10
expect_eq "on w3" "w3" "$(job_field "$id3" worker)"
fence1=$(job_field "$id3" fence)
kill -STOP "$PID_w3"
start_worker w4 --slots-sleep 1 --heartbeat-ms 500
check "the frozen worker's task is taken over" wait_for 15 bash -c "[ \"\$(redis-cli -p $REDIS_PORT HGET 'vodq:{default}:job:$id3' worker)\" = w4 ]"
fence2=$(job_field "$id3" fence)
check "fence moved on ($fence1 -> $fence2)" test "$fence2" -gt "$fence1"
check "w4 completes it" wait_state "$id3" succeeded 10
res=$(job_field "$id3" finished_at)
kill -CONT "$PID_w3"
sleep 3
expect_eq "state unchanged after the stale worker woke" "succeeded" "$(job_field "$id3" state)"
expect_eq "finish time unchanged" "$res" "$(job_field "$id3" finished_at)"
n=$(rcli XRANGE 'vodq:{default}:events' - + | grep -A4 -x "$id3" | grep -c -x succeeded || true)
expect_eq "one succeeded event" "1" "$n"
check "the stale worker logged its lost lease" grep -q "lease lost\|newer attempt" "$T_DIR/w3.log"
t_done
