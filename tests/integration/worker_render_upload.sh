#!/bin/bash
# Compose and upload in one task, overlapped (worker/render_upload.c), through
# the queue to a real Swift S3 server:
#  1. a plain run: the object decodes to exactly the frames and samples of a
#     plain render of the same timeline (ffmpeg -f framemd5), same duration and
#     frame count; parts were sent while the render went on; the cover follows;
#     nothing is left in the work dir, no multipart upload stays open;
#  2. pause mid-way stops both halves; resume; cancel: the multipart upload
#     is aborted, checkpoint and temporary files are gone;
#  3. kill -9 of the worker mid-way: another worker renders again, reuses the
#     checkpointed parts whose bytes are identical, and the object is correct;
#     the dead worker's temporary folder is swept;
#  4. kill -9, then cancel: the next worker aborts the multipart upload;
#  0. (first) a "then" upload without a file after a compose with "upload" is
#     refused at submit (there is no export to take).
. "$VODQ_TESTS/lib.sh"
/usr/bin/python3 -c 'import swift' 2>/dev/null || { echo "# swift not installed"; exit 77; }
redis_start
s3_start vodq-ru
open_uploads() { { s3curl -f "$EP/$B?uploads=" | grep -o '<UploadId>' || true; } | wc -l; }
M=$T_DIR/media W=$T_DIR/work; mkdir -p "$M" "$W"
# a noisy source: a high bitrate makes several 5 MiB parts out of a short render
ffmpeg -loglevel error -f lavfi -i "testsrc2=size=640x360:rate=25,noise=alls=60:allf=t" \
  -f lavfi -i sine=frequency=440:sample_rate=48000 -t 8 -c:v libx264 -preset ultrafast -crf 18 \
  -pix_fmt yuv420p -c:a aac -shortest "$M/a.mp4"
TL='{"version":1,"tracks":[{"clips":[{"type":"video","src":"'$M'/a.mp4","out":8}]}],
 "output":{"width":640,"height":360,"fps":25,"preset":"ultrafast","crf":8,"gop":25,"cover":{"at":1.5,"path":"c.jpg"}}}'
s3sec() { printf '{"url":"s3://%s/%s","endpoint":"%s","region":"us-east-1","access_key":"test:tester","secret_key":"testing","path_style":true}' "$B" "$1" "$EP"; }
job() { # job ID KEY [extra upload fields]
  printf '{"id":"%s","type":"compose","max_attempts":3,"backoff":{"base_ms":100},"compose":{"timeline":%s,"upload":{"part_size":5242880,"parallel":2,"s3":%s%s}}}' \
    "$1" "$TL" "$(s3sec "$2")" "${3:+,$3}"
}
fmd5() { ffmpeg -loglevel error -i "$1" -map 0 -f framemd5 - | grep -v '^#'; }
nframes() { ffprobe -v error -count_frames -select_streams v -show_entries stream=nb_read_frames -of csv=p=0 "$1"; }
dur() { ffprobe -v error -show_entries format=duration -of csv=p=0 "$1"; }
WOPTS=(--slots-compose 1 --slots-upload 0 --slots-sleep 0 --heartbeat-ms 300 --progress-ms 100 --work-dir "$W")
start_scheduler s1 --lease-ms 5000 --worker-timeout-ms 2000 --tick-ms 100
start_worker w1 "${WOPTS[@]}"

# 0. a compose with "upload" leaves no export (its temporary file is gone when it
# succeeds): a "then" upload without a file is refused at submit, naming then[0]
rc=0
printf '{"id":"ru0","type":"compose","compose":{"timeline":%s,"upload":{"s3":%s}},"then":[{"type":"upload","upload":{"s3":%s}}]}' \
  "$TL" "$(s3sec ru0.mp4)" "$(s3sec ru0-copy.mp4)" | ctl submit - >"$T_DIR/ru0.out" 2>&1 || rc=$?
expect_eq "then upload without file after compose.upload: submit fails" 1 "$rc"
check "the error names then[0].upload.file" grep -q 'then\[0\].upload.file: missing, and compose.upload leaves no export' "$T_DIR/ru0.out"
check "the job is rejected, not run (the scheduler records it)" wait_state ru0 rejected 10

# the reference: a plain render of the same timeline
echo "$TL" >"$T_DIR/tl.json"
check "plain render" "$VODQ_BIN/vodq-compose" "$T_DIR/tl.json" "$T_DIR/plain.mp4"
fmd5 "$T_DIR/plain.mp4" >"$T_DIR/plain.md5"

# 1. plain run
before=$(open_uploads)
job ru1 ru1.mp4 "\"cover\":{\"s3\":$(s3sec ru1.jpg)}" | ctl submit - >/dev/null
check "overlapped job succeeds" wait_state ru1 succeeded 120
s3curl -f -o "$T_DIR/ru1.mp4" "$EP/$B/ru1.mp4"
fmd5 "$T_DIR/ru1.mp4" >"$T_DIR/ru1.md5"
check "object decodes to the plain render's frames and samples (framemd5)" cmp -s "$T_DIR/plain.md5" "$T_DIR/ru1.md5"
check "framemd5 is not empty ($(wc -l <"$T_DIR/ru1.md5") lines)" test "$(wc -l <"$T_DIR/ru1.md5")" -gt 200
expect_eq "same frame count" "$(nframes "$T_DIR/plain.mp4")" "$(nframes "$T_DIR/ru1.mp4")"
expect_eq "same duration" "$(dur "$T_DIR/plain.mp4")" "$(dur "$T_DIR/ru1.mp4")"
expect_eq "an MP4 of H.264 and AAC" "h264,aac,mov,mp4,m4a,3gp,3g2,mj2" "$(ffprobe -v error -show_entries stream=codec_name:format=format_name -of csv=p=0 "$T_DIR/ru1.mp4" | paste -sd, | tr -d ' "')"
# a browser's video element reads it (headless Chromium, file://)
cat >"$T_DIR/play.html" <<'HTML'
<html><body><video id="v" src="ru1.mp4" muted preload="auto"></video><div id="out"></div><script>
const v=document.getElementById('v'), o=document.getElementById('out');
v.addEventListener('error',()=>{o.textContent+='error'+(v.error&&v.error.code);});
v.addEventListener('loadedmetadata',()=>{o.textContent+='duration='+v.duration+' width='+v.videoWidth+' ';});
v.addEventListener('loadeddata',()=>{o.textContent+='loadeddata';});
</script></body></html>
HTML
dom=$(timeout 120 chromium --headless --no-sandbox --disable-gpu --allow-file-access-from-files \
  --virtual-time-budget=20000 --dump-dom "file://$T_DIR/play.html" 2>/dev/null | grep -o '<div id="out">[^<]*' || true)
expect_eq "a browser's video element loads it (Chromium)" '<div id="out">duration=8 width=640 loadeddata' "$dom"
res=$(job_field ru1 result)
check "result: frames and a multipart upload of >= 2 parts ($res)" python3 -c "
import json,sys; r=json.loads(sys.argv[1]); assert r['frames']==200, r; assert r['upload']['parts']>=2, r
assert r['upload']['bytes']==$(stat -c %s "$T_DIR/ru1.mp4"), r; assert r['cover']['key']=='ru1.jpg', r" "$res"
s3curl -f -o "$T_DIR/ru1.jpg" "$EP/$B/ru1.jpg"
expect_eq "cover uploaded as a JPEG" mjpeg "$(ffprobe -v error -show_entries stream=codec_name -of csv=p=0 "$T_DIR/ru1.jpg")"
# overlap: some part was acknowledged while the render was still running
check "parts were uploaded while rendering" bash -c "redis-cli -p $REDIS_PORT XRANGE 'vodq:{default}:events' - + | grep '\"render\":\"running\"' | grep -q '\"bytes_uploaded\":[1-9]'"
expect_eq "no multipart upload left open" "$before" "$(open_uploads)"
expect_eq "work dir empty" "" "$(ls -A "$W")"
expect_eq "checkpoint deleted" 0 "$(rcli EXISTS 'vodq:{default}:ckpt:ru1')"
expect_eq "no last export (nothing local)" "" "$(job_field ru1 output)"

# 2. cancel mid-way (upload throttled so that it lasts)
job ru2 ru2.mp4 '"max_send_bps":4000000,"buffer_max_bytes":20971520' | ctl submit - >/dev/null
check "a part is checkpointed" wait_for 60 bash -c "redis-cli -p $REDIS_PORT HKEYS 'vodq:{default}:ckpt:ru2' | grep -q '^part:'"
# pause stops both halves: the render file stops growing, no part is added
rsize() { stat -c %s "$W"/vodq-ru-*/render.mp4* 2>/dev/null || echo none; }
check "pause" ctl pause ru2
check "reports paused" wait_state ru2 paused 10
sleep 4 # parts in flight when the pause came may finish (2 x 5 MiB at 4 MB/s)
s1=$(rsize) p1=$(rcli HLEN 'vodq:{default}:ckpt:ru2'); sleep 2
check "paused with its render file ($s1 bytes)" test "$s1" != none
expect_eq "paused: the render does not grow" "$s1" "$(rsize)"
expect_eq "paused: no new parts" "$p1" "$(rcli HLEN 'vodq:{default}:ckpt:ru2')"
check "resume" ctl resume ru2
check "active again" wait_state ru2 active 10
check "cancel" ctl cancel ru2
check "cancelled" wait_state ru2 cancelled 20
expect_eq "multipart upload aborted" "$before" "$(open_uploads)"
expect_eq "checkpoint deleted" 0 "$(rcli EXISTS 'vodq:{default}:ckpt:ru2')"
check "temporary files removed" wait_for 5 bash -c "[ -z \"\$(ls -A '$W')\" ]"
expect_eq "no object" 404 "$(s3curl -o /dev/null -w '%{http_code}' -I "$EP/$B/ru2.mp4")"

# 3. kill -9 mid-way: another worker finishes it
job ru3 ru3.mp4 '"max_send_bps":3000000' | ctl submit - >/dev/null
check "parts checkpointed before the kill" wait_for 60 bash -c "[ \"\$(redis-cli -p $REDIS_PORT HKEYS 'vodq:{default}:ckpt:ru3' | grep -c '^part:')\" -ge 2 ]"
uid=$(rcli HGET 'vodq:{default}:ckpt:ru3' upload_id)
kill -9 "$PID_w1"
check "the dead worker left its temporary folder" test -n "$(ls -A "$W")"
start_worker w2 "${WOPTS[@]}"
check "another worker completes it" wait_state ru3 succeeded 120
expect_eq "finished by w2" w2 "$(job_field ru3 worker)"
res=$(job_field ru3 result)
check "same upload id, identical parts reused ($res)" python3 -c "
import json,sys; r=json.loads(sys.argv[1])['upload']; assert r['upload_id']=='$uid', r; assert r['resumed_parts']>=2, r" "$res"
s3curl -f -o "$T_DIR/ru3.mp4" "$EP/$B/ru3.mp4"
fmd5 "$T_DIR/ru3.mp4" >"$T_DIR/ru3.md5"
check "object after the kill decodes to the plain render's frames (framemd5)" cmp -s "$T_DIR/plain.md5" "$T_DIR/ru3.md5"
expect_eq "no multipart upload left open" "$before" "$(open_uploads)"
expect_eq "work dir empty (dead worker's folder swept)" "" "$(ls -A "$W")"

# 4. kill -9, then cancel while no worker holds it: the next worker only aborts
#    the checkpointed multipart upload (renders nothing)
job ru4 ru4.mp4 '"max_send_bps":3000000' | ctl submit - >/dev/null
check "ru4: a part is checkpointed" wait_for 60 bash -c "redis-cli -p $REDIS_PORT HKEYS 'vodq:{default}:ckpt:ru4' | grep -q '^part:'"
kill -9 "$PID_w2"
check "cancel after the kill" ctl cancel ru4
start_worker w3 "${WOPTS[@]}"
check "cancelled by the next worker" wait_state ru4 cancelled 60
expect_eq "its multipart upload aborted" "$before" "$(open_uploads)"
expect_eq "its checkpoint deleted" 0 "$(rcli EXISTS 'vodq:{default}:ckpt:ru4')"
check "work dir empty again" wait_for 10 bash -c "[ -z \"\$(ls -A '$W')\" ]"
t_done
