#!/bin/bash
# Compose and upload overlapped (worker/render_upload.c) with a token expiry
# mid-way, through the queue to the OSS-protocol test server (tests/oss_server.py,
# which checks the STS token; a VOD target): the upload half stops and the job
# goes waiting_auth while the render runs on until its buffered bytes pass
# buffer_max_bytes (progress says "render":"held"); `vodqctl refresh-auth`
# resumes the SAME upload id, and the object decodes to exactly the frames and
# samples of a plain render (ffmpeg -f framemd5).
. "$VODQ_TESTS/lib.sh"
redis_start
oss_start
mkdir -p "$T_DIR/work"
M=$T_DIR/media; mkdir -p "$M"
ffmpeg -loglevel error -f lavfi -i "testsrc2=size=480x270:rate=25,noise=alls=30:allf=t" \
  -f lavfi -i sine=frequency=440:sample_rate=48000 -t 5 -c:v libx264 -preset ultrafast -crf 20 \
  -pix_fmt yuv420p -c:a aac -shortest "$M/a.mp4"
TL='{"version":1,"tracks":[{"clips":[{"type":"video","src":"'$M'/a.mp4","out":5}]}],
 "output":{"width":480,"height":270,"fps":25,"preset":"ultrafast","crf":12,"gop":25}}'
echo "$TL" >"$T_DIR/tl.json"
fmd5() { ffmpeg -loglevel error -i "$1" -map 0 -f framemd5 - | grep -v '^#'; }
check "plain render" "$VODQ_BIN/vodq-compose" "$T_DIR/tl.json" "$T_DIR/plain.mp4"
fmd5 "$T_DIR/plain.mp4" >"$T_DIR/plain.md5"
PS=262144
start_scheduler s1
start_worker w1 --slots-compose 1 --slots-upload 0 --slots-sleep 0 --heartbeat-ms 300 \
  --progress-ms 100 --work-dir "$T_DIR/work"

ossctl '{"expire_token_after_parts":2,"slow_ms":100}'
printf '{"id":"rt1","type":"compose","max_attempts":3,"compose":{"timeline":%s,"upload":{"part_size":%d,"parallel":2,"wait_auth_s":60,"buffer_max_bytes":%d,"vod":{"upload_address":"%s","upload_auth":"%s","path_style":true}}}}' \
  "$TL" "$PS" $((2 * PS)) "$(addr rt1.mp4)" "$(auth T1)" | ctl submit - >/dev/null
check "job waits for credentials" wait_state rt1 waiting_auth 60
check "a token_expired event was written" bash -c "redis-cli -p $REDIS_PORT XRANGE 'vodq:{default}:events' - + | grep -q -x token_expired"
uid=$(rcli HGET 'vodq:{default}:ckpt:rt1' upload_id)
check "checkpoint kept with an upload id" test -n "$uid"
check "the render runs on, then holds at the buffer bound" wait_for 60 bash -c "redis-cli -p $REDIS_PORT HGET 'vodq:{default}:job:rt1' progress_data | grep -q '\"render\":\"held\"'"
# parts already in flight when the token expired may still land and free
# buffer room (the render then writes up to the bound again): the hold is
# checked once those have settled, as two equal samples 1 s apart (within 10 s)
written() { rcli HGET 'vodq:{default}:job:rt1' progress_data | python3 -c "import json,sys; print(json.load(sys.stdin)['bytes_written'])"; }
w1=$(written)
for _ in $(seq 10); do
  sleep 1
  w2=$(written)
  [ "$w1" = "$w2" ] && break
  w1=$w2
done
expect_eq "held: no more bytes written" "$w1" "$w2"
check "buffered bytes passed the bound only by a little ($w1 written)" test "$w1" -gt $((2 * PS))
expect_eq "still waiting for credentials" waiting_auth "$(job_field rt1 state)"
ossctl '{"token":"T2","expire_token_after_parts":-1,"slow_ms":0}'
check "refresh-auth accepted" ctl refresh-auth rt1 "$(auth T2)"
check "job finishes after the refresh" wait_state rt1 succeeded 60
res=$(job_field rt1 result)
check "same upload id after the refresh ($res)" python3 -c "import json,sys; assert json.loads(sys.argv[1])['upload']['upload_id']=='$uid'" "$res"
obj=$OSSD/objects/outin-q/rt1.mp4
check "object stored" test -s "$obj"
fmd5 "$obj" >"$T_DIR/rt1.md5"
check "object decodes to the plain render's frames and samples (framemd5)" cmp -s "$T_DIR/plain.md5" "$T_DIR/rt1.md5"
expect_eq "no multipart upload left open" 0 "$(pystats "len(s['uploads_open'])")"
expect_eq "work dir empty" "" "$(ls -A "$T_DIR/work")"
check "credentials never in status output" bash -c "! $VODQ_BIN/vodqctl --redis $REDIS_URL status rt1 --json | grep -q qsecret"
t_done
