#!/bin/bash
# Pause, resume and cancel of running and queued jobs.
. "$VODQ_TESTS/lib.sh"
redis_start
start_scheduler s1
start_worker w1 --slots-sleep 1 --progress-ms 50

id=$(submit_sleep 3000)
check "job starts" wait_state "$id" active 10
sleep 0.5
check "pause accepted" ctl pause "$id"
check "running job reports paused" wait_state "$id" paused 5
p1=$(job_field "$id" progress); sleep 1.0; p2=$(job_field "$id" progress)
expect_eq "no progress while paused" "$p1" "$p2"
# while the only slot holds the paused job, a queued job can be cancelled
q=$(submit_sleep 100)
sleep 0.3
expect_eq "second job waits in the queue" "queued" "$(job_field "$q" state)"
check "cancel a queued job" ctl cancel "$q"
expect_eq "queued job cancelled at once" "cancelled" "$(job_field "$q" state)"
check "resume accepted" ctl resume "$id"
check "job runs again" wait_state "$id" active 5
check "resumed job completes" wait_state "$id" succeeded 10
expect_eq "one attempt across pause/resume" "1" "$(job_field "$id" attempts)"

id2=$(submit_sleep 20000)
check "second long job starts" wait_state "$id2" active 10
t0=$(date +%s%N)
check "cancel a running job" ctl cancel "$id2"
check "running job cancelled" wait_state "$id2" cancelled 5
t1=$(date +%s%N)
check "cancel took under 2 s ($(( (t1 - t0) / 1000000 )) ms)" test $(( (t1 - t0) / 1000000 )) -lt 2000
out=$(ctl cancel "$id2" 2>&1) && not_ok "second cancel accepted" || ok "cancel of a cancelled job refused: $out"

# pause of a queued job parks it; resume queues it again
start_worker w2 --slots-sleep 0 --slots-compose 0 --slots-upload 1 2>/dev/null || true
blocker=$(submit_sleep 2000)
wait_state "$blocker" active 10
q2=$(submit_sleep 10)
sleep 0.2
check "pause a queued job" ctl pause "$q2"
expect_eq "queued job parked as paused" "paused" "$(job_field "$q2" state)"
check "blocker finishes" wait_state "$blocker" succeeded 10
sleep 0.5
expect_eq "parked job stays paused" "paused" "$(job_field "$q2" state)"
check "resume a parked job" ctl resume "$q2"
check "parked job runs after resume" wait_state "$q2" succeeded 10

# a worker that missed the pub/sub message still obeys (desired state in the hash)
id3=$(submit_sleep 3000)
wait_state "$id3" active 10
rcli HSET "vodq:{default}:job:$id3" desired cancel >/dev/null   # no PUBLISH
check "desired state in the hash alone cancels within 3 s" wait_state "$id3" cancelled 3
t_done
