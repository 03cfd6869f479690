#!/bin/bash
# Upload tasks through the queue (scheduler + workers + a real Swift S3 server):
# progress, pause/resume, cancel (aborts the multipart upload and deletes the
# checkpoint hash), and kill -9 of the worker mid-upload: another worker resumes
# the SAME multipart upload from the part list checkpointed in Redis.
. "$VODQ_TESTS/lib.sh"
/usr/bin/python3 -c 'import swift' 2>/dev/null || { echo "# swift not installed"; exit 77; }
redis_start
s3_start vodq-queue
open_uploads() { { s3curl -f "$EP/$B?uploads=" | grep -o '<UploadId>' || true; } | wc -l; }
head -c $((40 << 20)) /dev/urandom >"$T_DIR/big.bin"
job() { # job ID KEY [extra upload fields]
  cat <<JSON
{"id":"$1","type":"upload","max_attempts":3,"backoff":{"base_ms":100},
 "upload":{"file":"$T_DIR/big.bin","part_size":5242880,"parallel":2${3:+,$3},
   "s3":{"url":"s3://$B/$2","endpoint":"$EP","region":"us-east-1","access_key":"test:tester",
         "secret_key":"testing","path_style":true}}}
JSON
}
start_scheduler s1 --lease-ms 5000 --worker-timeout-ms 2000 --tick-ms 100
start_worker w1 --slots-upload 1 --slots-compose 0 --slots-sleep 0 --heartbeat-ms 300 --progress-ms 100

# plain run through the queue
job up1 plain.bin | ctl submit - >/dev/null
check "upload job succeeds" wait_state up1 succeeded 60
s3curl -f -o "$T_DIR/back" "$EP/$B/plain.bin"
check "object read back equals the file" cmp -s "$T_DIR/back" "$T_DIR/big.bin"
res=$(job_field up1 result)
check "result names 8 parts and the bytes ($res)" python3 -c "
import json,sys; r=json.loads(sys.argv[1]); assert r['parts']==8 and r['bytes']==40<<20" "$res"
n=$(rcli XRANGE 'vodq:{default}:events' - + | grep -c -x progress || true)
check "progress events were written ($n)" test "$n" -ge 3
expect_eq "checkpoint hash deleted after success" 0 "$(rcli EXISTS 'vodq:{default}:ckpt:up1')"
check "status output hides the secret key" bash -c "! $VODQ_BIN/vodqctl --redis $REDIS_URL status up1 --json | grep -q testing"

# pause and resume (rate-limited so that it lasts a few seconds)
job up2 paused.bin '"max_send_bps":8000000' | ctl submit - >/dev/null
check "throttled upload starts" wait_state up2 active 10
wait_for 10 bash -c "[ \"\$(redis-cli -p $REDIS_PORT HLEN 'vodq:{default}:ckpt:up2')\" -ge 8 ]"
check "pause" ctl pause up2
check "reports paused" wait_state up2 paused 10
sleep 3 # the parts in flight when the pause came may finish (2 x 5 MiB at 8 MB/s)
p1=$(rcli HLEN 'vodq:{default}:ckpt:up2'); sleep 2; p2=$(rcli HLEN 'vodq:{default}:ckpt:up2')
expect_eq "no new parts while paused" "$p1" "$p2"
check "resume" ctl resume up2
check "resumed upload succeeds" wait_state up2 succeeded 60
s3curl -f -o "$T_DIR/back2" "$EP/$B/paused.bin"
check "paused+resumed object equals the file" cmp -s "$T_DIR/back2" "$T_DIR/big.bin"

# cancel: the multipart upload is aborted on the server and the checkpoint deleted
before=$(open_uploads)
job up3 cancelled.bin '"max_send_bps":4000000' | ctl submit - >/dev/null
check "upload to cancel starts" wait_state up3 active 10
wait_for 10 bash -c "[ \"\$(redis-cli -p $REDIS_PORT HLEN 'vodq:{default}:ckpt:up3')\" -ge 8 ]"
check "cancel" ctl cancel up3
check "cancelled" wait_state up3 cancelled 15
expect_eq "multipart upload aborted on the server" "$before" "$(open_uploads)"
expect_eq "checkpoint hash deleted" 0 "$(rcli EXISTS 'vodq:{default}:ckpt:up3')"

# kill -9 mid-upload: another worker resumes the same upload id, sending only missing parts
job up4 crash.bin '"max_send_bps":6000000' | ctl submit - >/dev/null
check "upload to crash starts" wait_state up4 active 10
check "some parts checkpointed" wait_for 20 bash -c "[ \"\$(redis-cli -p $REDIS_PORT HKEYS 'vodq:{default}:ckpt:up4' | grep -c '^part:')\" -ge 2 ]"
uid=$(rcli HGET 'vodq:{default}:ckpt:up4' upload_id)
kill -9 "$PID_w1"
start_worker w2 --slots-upload 1 --slots-compose 0 --slots-sleep 0 --heartbeat-ms 300
check "another worker completes it" wait_state up4 succeeded 60
expect_eq "finished by w2" w2 "$(job_field up4 worker)"
res=$(job_field up4 result)
check "same upload id, parts reused ($res)" python3 -c "
import json,sys; r=json.loads(sys.argv[1]); assert r['upload_id']=='$uid', r; assert r['resumed_parts']>=2, r" "$res"
s3curl -f -o "$T_DIR/back4" "$EP/$B/crash.bin"
check "resumed object equals the file" cmp -s "$T_DIR/back4" "$T_DIR/big.bin"

# a wrong secret: fails clearly, permanent, no secret in the error
cat <<JSON | ctl submit - >/dev/null
{"id":"up5","type":"upload","max_attempts":3,"upload":{"file":"$T_DIR/big.bin","kind":"image",
 "s3":{"url":"s3://$B/x.bin","endpoint":"$EP","region":"us-east-1","access_key":"test:tester","secret_key":"WRONGSECRET","path_style":true}}}
JSON
check "wrong secret: job goes dead" wait_state up5 dead 30
e=$(job_field up5 error)
check "error says the signature was refused ($e)" grep -qi "signature" <<<"$e"
check "error does not show the secret" bash -c "! grep -q WRONGSECRET <<<'$e'"
# transient failures through tests/faultproxy.py (every UploadPart 3 is reset after
# it reached the server): on the last attempt the job goes dead and its multipart
# upload is aborted; with attempts left the upload stays open for the retry (its
# checkpoint resumes it), and a cancel of the delayed job aborts it
PXPORT=$(free_port)
/usr/bin/python3 "$VODQ_TESTS/faultproxy.py" --listen "$PXPORT" --upstream "${EP##*:}" \
  --mode reset --match '^PUT .*partNumber=3&' --nth 1 --count 100000 --log "$T_DIR/px.log" \
  >"$T_DIR/px.out" 2>&1 &
T_PIDS+=($!)
wait_for 10 bash -c "exec 3<>/dev/tcp/127.0.0.1/$PXPORT" 2>/dev/null
pjob() { # pjob ID KEY MAX_ATTEMPTS BACKOFF_MS
  cat <<JSON
{"id":"$1","type":"upload","max_attempts":$3,"backoff":{"base_ms":$4,"max_ms":$4},
 "upload":{"file":"$T_DIR/big.bin","part_size":5242880,"parallel":2,"max_attempts":2,"retry_base_ms":50,
   "s3":{"url":"s3://$B/$2","endpoint":"http://127.0.0.1:$PXPORT","region":"us-east-1",
         "access_key":"test:tester","secret_key":"testing","path_style":true}}}
JSON
}
before=$(open_uploads)
pjob up6 lastfail.bin 2 200 | ctl submit - >/dev/null
check "part 3 reset every time: the job goes dead" wait_state up6 dead 120
expect_eq "it was tried twice (the failure is transient)" 2 "$(job_field up6 attempts)"
check "the fault was injected" grep -q 'partNumber=3&.* -> reset' "$T_DIR/px.log"
expect_eq "dead after its last attempt: multipart upload aborted" "$before" "$(open_uploads)"
expect_eq "dead: checkpoint hash deleted" 0 "$(rcli EXISTS 'vodq:{default}:ckpt:up6')"
pjob up7 retrycancel.bin 3 600000 | ctl submit - >/dev/null
check "transient failure with attempts left: delayed" wait_state up7 delayed 90
expect_eq "its multipart upload stays open for the retry" $((before + 1)) "$(open_uploads)"
check "cancel the delayed job" ctl cancel up7
check "cancelled" wait_state up7 cancelled 30
expect_eq "cancelled while delayed: multipart upload aborted" "$before" "$(open_uploads)"
expect_eq "cancelled: checkpoint hash deleted" 0 "$(rcli EXISTS 'vodq:{default}:ckpt:up7')"
t_done
