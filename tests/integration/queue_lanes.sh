#!/bin/bash
# GPU routing: a compose job that needs a GPU encoder goes to the compose_gpu
# lane, which a worker serves only when its probe found a GPU encoder; this
# machine's workers have none, so the job waits there and CPU jobs pass it by.
. "$VODQ_TESTS/lib.sh"
redis_start
start_scheduler s1
start_worker w1 --slots-compose 1 --slots-sleep 1
echo '{"id":"gpu-job","type":"compose","compose":{"timeline_file":"/nonexistent.json","output":"/tmp/x.mp4","encoder":"h264_nvenc"}}' | ctl submit - >/dev/null
check "GPU job is queued" wait_state gpu-job queued 10
expect_eq "in the compose_gpu lane" "compose_gpu" "$(job_field gpu-job lane)"
expect_eq "its type stays compose" "compose" "$(job_field gpu-job type)"
id=$(submit_sleep 10)
check "other work passes it by" wait_state "$id" succeeded 10
sleep 1.5
expect_eq "no GPU worker: still queued" "queued" "$(job_field gpu-job state)"
expect_eq "one task waits in tasks:compose_gpu" "1" "$(rcli XLEN 'vodq:{default}:tasks:compose_gpu')"
info=$(rcli HGET 'vodq:{default}:worker:w1' info)
check "worker record advertises no compose_gpu slots ($info)" bash -c "! grep -q compose_gpu <<<'$info'"
stats=$(ctl stats --json)
check "stats shows the waiting GPU task" python3 -c "
import json,sys; j=json.loads(sys.argv[1]); assert j['types']['compose_gpu']['queued']==1" "$stats"
check "a queued GPU job can be cancelled" ctl cancel gpu-job
expect_eq "cancelled" "cancelled" "$(job_field gpu-job state)"
t_done
