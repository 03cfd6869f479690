#!/bin/bash
# Compose tasks through the queue: a session's compose (progress, pause, resume,
# cancel leaves no file), a bad timeline dies at once naming the JSON path, and
# an upload without a file takes the session's LAST export (compose twice first).
. "$VODQ_TESTS/lib.sh"
redis_start
start_scheduler s1
start_worker w1 --slots-compose 1 --slots-upload 0 --slots-sleep 0 --progress-ms 100
M=$T_DIR/media; mkdir -p "$M" "$T_DIR/out"
ffmpeg -loglevel error -f lavfi -i testsrc2=size=320x240:rate=25 -f lavfi -i sine=frequency=440 \
  -t 6 -c:v libx264 -preset ultrafast -pix_fmt yuv420p -c:a aac -shortest "$M/a.mp4"
timeline() { # timeline SECONDS_OF_CLIP WIDTH
  cat <<JSON
{"version":1,"tracks":[{"clips":[{"type":"video","src":"$M/a.mp4","out":$1}]}],
 "output":{"width":$2,"height":240,"fps":25,"preset":"ultrafast","crf":30}}
JSON
}
compose_job() { # compose_job ID OUT SECONDS WIDTH
  printf '{"id":"%s","type":"compose","session":"sess","compose":{"timeline":%s,"output":"%s"}}' \
    "$1" "$(timeline "$3" "$4")" "$2"
}
compose_job c1 "$T_DIR/out/first.mp4" 2 320 | ctl submit - >/dev/null
check "first compose succeeds" wait_state c1 succeeded 60
check "first export exists" test -s "$T_DIR/out/first.mp4"
expect_eq "session remembers the export" "$T_DIR/out/first.mp4" "$(rcli HGET 'vodq:{default}:session:sess' last_export)"
compose_job c2 "$T_DIR/out/second.mp4" 1 160 | ctl submit - >/dev/null
check "second compose succeeds" wait_state c2 succeeded 60
expect_eq "session's last export is the second" "$T_DIR/out/second.mp4" "$(rcli HGET 'vodq:{default}:session:sess' last_export)"
expect_eq "progress 100 on success" 100 "$(job_field c2 progress)"
w=$(ffprobe -v error -select_streams v -show_entries stream=width -of csv=p=0 "$T_DIR/out/second.mp4")
expect_eq "second export has the second timeline's width" 160 "$w"

# pause / resume / cancel of a running compose (a longer 1280x720 render)
slow='{"version":1,"tracks":[{"clips":[{"type":"video","src":"'$M'/a.mp4","out":6}]}],"output":{"width":1280,"height":720,"fps":25,"preset":"medium","crf":18}}'
printf '{"id":"c3","type":"compose","compose":{"timeline":%s,"output":"%s"}}' "$slow" "$T_DIR/out/slow.mp4" | ctl submit - >/dev/null
check "slow compose starts" wait_state c3 active 20
check "it reports progress" wait_for 20 bash -c "[ \"\$(redis-cli -p $REDIS_PORT HGET 'vodq:{default}:job:c3' progress | cut -d. -f1)\" -gt 0 ]"
check "pause" ctl pause c3
check "compose reports paused" wait_state c3 paused 10
sleep 0.5; p1=$(job_field c3 progress); sleep 1.5; p2=$(job_field c3 progress)
expect_eq "no progress while paused" "$p1" "$p2"
check "resume" ctl resume c3
check "compose active again" wait_state c3 active 10
check "cancel" ctl cancel c3
check "compose cancelled" wait_state c3 cancelled 10
check "no output and no partial file left" bash -c "[ -z \"\$(ls -A '$T_DIR/out' | grep -v -e '^first.mp4$' -e '^second.mp4$')\" ]"

# a bad timeline: dead after ONE attempt (permanent), error names the JSON path
printf '{"id":"c4","type":"compose","max_attempts":5,"compose":{"timeline":{"version":1,"tracks":[{"clips":[{"type":"video","src":"%s","speed":9}]}]},"output":"%s"}}' \
  "$M/a.mp4" "$T_DIR/out/bad.mp4" | ctl submit - >/dev/null
check "bad timeline goes dead" wait_state c4 dead 20
expect_eq "after one attempt" 1 "$(job_field c4 attempts)"
e=$(job_field c4 error)
check "error names tracks[0].clips[0].speed ($e)" grep -q "tracks\[0\].clips\[0\].speed" <<<"$e"
printf '{"id":"c5","type":"compose","compose":{"timeline":{"version":1,"tracks":[{"clips":[{"type":"video","src":"%s"}]}]},"output":"%s"}}' \
  "$M/missing.mp4" "$T_DIR/out/missing.mp4" | ctl submit - >/dev/null
check "missing media goes dead" wait_state c5 dead 20
check "error names the missing file" grep -q "missing.mp4" <<<"$(job_field c5 error)"
t_done
