#!/bin/bash
# Path roots (worker --roots): compose sources, timeline files, outputs and
# covers, and upload files must resolve (symlinks followed) inside a root, or
# the job dies 'invalid' on its first attempt naming the path and the roots.
. "$VODQ_TESTS/lib.sh"
command -v ffmpeg >/dev/null || { echo "# no ffmpeg"; exit 77; }
redis_start
R=$T_DIR/root; O=$T_DIR/outside
mkdir -p "$R/media" "$R/out" "$O"
ffmpeg -hide_banner -nostdin -loglevel error -y -f lavfi -i color=c=red:s=64x64:r=10:d=0.5 \
  -c:v libx264 -pix_fmt yuv420p "$R/media/in.mp4"
cp "$R/media/in.mp4" "$O/secret.mp4"
ln -s "$O/secret.mp4" "$R/media/link.mp4"       # a file symlink escaping the root
ln -s "$O" "$R/outlink"                           # a folder symlink escaping the root
ln -s "$O/nothing-yet.mp4" "$R/out/dangling.mp4"  # writing through it would escape
echo '{"version":1,"tracks":[{"clips":[{"type":"video","src":"'"$O"'/secret.mp4"}]}],"output":{"width":64,"height":64,"fps":10,"preset":"ultrafast"}}' >"$O/timeline.json"
start_scheduler s1 --tick-ms 100
start_worker w1 --slots-compose 1 --slots-upload 1 --slots-sleep 0 --roots "$T_DIR/nonexistent-is-not-ok" 2>/dev/null || true
check "a root that does not exist: the worker refuses to start" wait_for 10 bash -c "! kill -0 $PID_w1 2>/dev/null"
check "naming it" grep -q 'nonexistent-is-not-ok' "$T_DIR/w1.log"
start_worker w2 --slots-compose 1 --slots-upload 1 --slots-sleep 0 --roots " $R , $T_DIR/other-root-unused" 2>/dev/null || true
check "a missing second root is refused too" wait_for 10 bash -c "! kill -0 $PID_w2 2>/dev/null"
mkdir -p "$T_DIR/other"
VODQ_ROOTS="$R, $T_DIR/other" start_worker w3 --slots-compose 1 --slots-upload 1 --slots-sleep 0

compose() { # compose ID SRC OUTPUT [extra output fields]
  printf '{"id":"%s","type":"compose","max_attempts":3,"backoff":{"base_ms":100},"compose":{"timeline":{"version":1,"tracks":[{"clips":[{"type":"video","src":"%s"}]}],"output":{"width":64,"height":64,"fps":10,"preset":"ultrafast"%s}},"output":"%s"}}' \
    "$1" "$2" "${4:+,$4}" "$3" | ctl submit - >/dev/null
}
upload() { # upload ID FILE
  printf '{"id":"%s","type":"upload","max_attempts":3,"backoff":{"base_ms":100},"upload":{"file":"%s","s3":{"url":"s3://bucket/k","endpoint":"http://127.0.0.1:9","region":"us-east-1","access_key":"a","secret_key":"b"}}}' \
    "$1" "$2" | ctl submit - >/dev/null
}
refused() { # refused ID WHAT PATH: dead on attempt 1, error_code invalid, names the path and the root
  wait_state "$1" dead 30 || { not_ok "$1 should die"; return; }
  local e; e=$(job_field "$1" error)
  expect_eq "$1: error_code invalid" invalid "$(job_field "$1" error_code)"
  expect_eq "$1: no retry (permanent)" 1 "$(job_field "$1" attempts)"
  check "$1: the error names $2 and the path ($e)" grep -qF "$2: $3" <<<"$e"
  check "$1: and the roots" grep -qF "$R" <<<"$e"
}
compose ok1 "$R/media/in.mp4" "$R/out/ok.mp4"
check "a compose inside the root succeeds" wait_state ok1 succeeded 60
compose ok2 "../media/in.mp4" "$R/out/rel.mp4"
check "a relative source inside the root succeeds" wait_state ok2 succeeded 60
compose bad1 "$R/media/link.mp4" "$R/out/bad1.mp4"
refused bad1 "tracks[0].clips[0].src" "$R/media/link.mp4"
compose bad2 "$O/secret.mp4" "$R/out/bad2.mp4"
refused bad2 "tracks[0].clips[0].src" "$O/secret.mp4"
compose bad3 "$R/media/in.mp4" "$O/out.mp4"
refused bad3 "compose.output" "$O/out.mp4"
compose bad4 "$R/media/in.mp4" "$R/outlink/out.mp4"
refused bad4 "compose.output" "$R/outlink/out.mp4"
compose bad5 "$R/media/in.mp4" "$R/out/dangling.mp4"
refused bad5 "compose.output" "$R/out/dangling.mp4"
compose bad6 "$R/media/in.mp4" "$R/out/c.mp4" "\"cover\":{\"at\":0,\"path\":\"$O/cover.jpg\"}"
wait_state bad6 dead 30 && check "a cover outside the roots is refused ($(job_field bad6 error))" grep -q "$O/cover.jpg" <<<"$(job_field bad6 error)" || not_ok "bad6 should die"
compose bad7 "$R/media/../../outside/secret.mp4" "$R/out/bad7.mp4"
refused bad7 "tracks[0].clips[0].src" "$R/media/../../outside/secret.mp4"
printf '{"id":"bad8","type":"compose","compose":{"timeline_file":"%s","output":"%s"}}' "$O/timeline.json" "$R/out/bad8.mp4" | ctl submit - >/dev/null
refused bad8 "compose.timeline_file" "$O/timeline.json"
upload up1 "$R/media/link.mp4"
refused up1 "upload.file" "$R/media/link.mp4"
upload up2 "/etc/passwd"
refused up2 "upload.file" "/etc/passwd"
check "no output was written outside the root" bash -c "! ls '$O' | grep -q -e out.mp4 -e cover.jpg -e nothing-yet"
check "the worker logs its roots" grep -qF "path roots: $R" "$T_DIR/w3.log"

# a worker without roots warns once at start
start_worker w4 --slots-compose 0 --slots-upload 0 --slots-sleep 1
wait_for 5 grep -q 'no --roots' "$T_DIR/w4.log"
expect_eq "a worker without roots warns once" 1 "$(grep -c 'no --roots' "$T_DIR/w4.log")"
t_done
