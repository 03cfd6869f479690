#!/usr/bin/env bash
# tests/bench/e2e.sh: compose and upload overlapped in one task against compose
# then a chained upload (issue 9, point 3; not a timed test, not run in CI).
#
# One generated timeline (about 20 s of 1080p30: two H.264 1080p sources with a
# fade, a caption and music), rendered and uploaded to the local Swift S3 server
# (tests/s3-swift.sh) through a throttling TCP proxy (tests/bench/throttle.py,
# 40 Mbit/s client-to-server by default, an ordinary server uplink), by one
# scheduler and one worker (1 compose slot, 1 upload slot), two ways,
# alternating, RUNS times each:
#   overlapped  one compose job with "upload": the worker renders into a
#               temporary file and sends each part while encoding goes on
#   chained     a compose job with "output" and "then": [an upload without file]:
#               the upload job starts when the render is done
# Both use the same timeline, encoder settings, part size and parallelism, and
# the same proxy. Wall time: from submit until the last job succeeded (polled
# every 50 ms). Each object is checked (HEAD: size equals the local render of
# the chained run) and deleted. Prints each side's median, then, last,
# `ratio <overlapped median / chained median>`. Goal (issue 9): <= 0.85.
#
# Usage: tests/bench/e2e.sh [RUNS]        (default 3)
# Env:   VODQ_BIN (build/bin), BENCH_RATE_BPS (40000000), BENCH_BITRATE (video
#        bits/s of the output, default 16000000), BENCH_PRESET (veryfast),
#        BENCH_SECONDS (length of the timeline, default 20), BENCH_KEEP=1 keeps
#        the folder.
set -euo pipefail
VODQ_SRC=${VODQ_SRC:-$(cd "$(dirname "$0")/../.." && pwd)}
VODQ_TESTS=${VODQ_TESTS:-$VODQ_SRC/tests}
VODQ_BIN=${VODQ_BIN:-$VODQ_SRC/build/bin}
export VODQ_SRC VODQ_TESTS VODQ_BIN
T_KEEP=${BENCH_KEEP:-}
. "$VODQ_TESTS/lib.sh"
RUNS=${1:-3}
RATE=${BENCH_RATE_BPS:-40000000}
BITRATE=${BENCH_BITRATE:-16000000}
PRESET=${BENCH_PRESET:-veryfast}
SECS=${BENCH_SECONDS:-20}
for p in vodq-worker vodq-scheduler vodqctl; do
  [ -x "$VODQ_BIN/$p" ] || { echo "$p not built in $VODQ_BIN" >&2; exit 1; }
done
/usr/bin/python3 -c 'import swift' 2>/dev/null || { echo "swift (s3api) not installed: run deploy/setup.sh" >&2; exit 1; }

redis_start
s3_start vodq-e2e
# the proxy: all uploads go through it
/usr/bin/python3 "$VODQ_TESTS/bench/throttle.py" --to "127.0.0.1:${EP##*:}" --rate-bps "$RATE" \
  --port-file "$T_DIR/proxy.port" >"$T_DIR/proxy.log" 2>&1 &
T_PIDS+=($!)
wait_for 10 test -s "$T_DIR/proxy.port"
PEP=http://127.0.0.1:$(cat "$T_DIR/proxy.port")

M=$T_DIR/media; mkdir -p "$M" "$T_DIR/out" "$T_DIR/work"
half=$(python3 -c "print($SECS / 2 + 0.5)")
echo "# generating two 1080p30 sources of $half s in $M"
n=0
for s in "testsrc2=s=1920x1080:r=30" "mandelbrot=s=1920x1080:r=30"; do
  n=$((n + 1))
  ffmpeg -hide_banner -nostdin -loglevel error -y -f lavfi -i "$s" \
    -f lavfi -i "sine=f=$((330 * n)):r=48000" -t "$half" -vf format=yuv420p \
    -c:v libx264 -preset ultrafast -crf 20 -g 60 -c:a aac -b:a 128k -ac 2 "$M/clip$n.mp4"
done
TL=$(cat <<JSON
{"version":1,"tracks":[{"clips":[
  {"type":"video","src":"$M/clip1.mp4","in":0,"out":$half,"transition":{"type":"fade","duration":1}},
  {"type":"video","src":"$M/clip2.mp4","in":0,"out":$half}]}],
 "captions":[{"text":"vodq e2e benchmark","size":64,"color":"#ffffff","outline":3,"anchor":"bottom","y":80,"start":1,"end":$((SECS - 1))}],
 "output":{"width":1920,"height":1080,"fps":30,"bitrate":$BITRATE,"gop":60,"preset":"$PRESET","encoder":"libx264"}}
JSON
)
S3="\"endpoint\":\"$PEP\",\"region\":\"us-east-1\",\"access_key\":\"test:tester\",\"secret_key\":\"testing\",\"path_style\":true"
UP="\"part_size\":5242880,\"parallel\":4"

start_scheduler s1 --tick-ms 50
start_worker w1 --slots-compose 1 --slots-upload 1 --slots-sleep 0 --work-dir "$T_DIR/work" \
  --block-ms 50
now() { date +%s.%N; }
# wait_done ID: polls every 50 ms until succeeded (fails on dead/cancelled)
wait_done() {
  local st
  for _ in $(seq 12000); do
    st=$(job_field "$1" state)
    [ "$st" = succeeded ] && return 0
    case $st in dead | cancelled | rejected) echo "job $1: $st: $(job_field "$1" error)" >&2; return 1 ;; esac
    sleep 0.05
  done
  return 1
}
size_of() { s3curl -f -I "$EP/$B/$1" | tr -d '\r' | awk -F': ' 'tolower($1)=="content-length"{print $2}'; }

run_overlapped() { # KEY
  local t0 t1
  t0=$(now)
  printf '{"id":"%s","type":"compose","compose":{"timeline":%s,"upload":{%s,"s3":{"url":"s3://%s/%s",%s}}}}' \
    "$1" "$TL" "$UP" "$B" "$1" "$S3" | ctl submit - >/dev/null
  wait_done "$1"
  t1=$(now)
  python3 -c "print(f'{$t1 - $t0:.2f}')"
}
run_chained() { # KEY
  local t0 t1
  t0=$(now)
  printf '{"id":"%s","type":"compose","compose":{"timeline":%s,"output":"%s"},"then":[{"type":"upload","upload":{%s,"s3":{"url":"s3://%s/%s",%s}}}]}' \
    "$1" "$TL" "$T_DIR/out/$1.mp4" "$UP" "$B" "$1" "$S3" | ctl submit - >/dev/null
  wait_done "$1"
  wait_done "$1.then1"
  t1=$(now)
  python3 -c "print(f'{$t1 - $t0:.2f}')"
}

# secs ID: the job's own run time (started_at to finished_at)
secs() { python3 -c "print(f'{($(job_field "$1" finished_at) - $(job_field "$1" started_at)) / 1000:.2f}')"; }
OV=() CH=() CR=() CU=()
for i in $(seq "$RUNS"); do
  for side in overlapped chained; do
    key=$side$i
    w=$(run_$side "$key")
    bytes=$(size_of "$key")
    if [ "$side" = chained ]; then
      local_bytes=$(stat -c %s "$T_DIR/out/$key.mp4")
      [ "$bytes" = "$local_bytes" ] || { echo "chained object $key: $bytes bytes, local $local_bytes" >&2; exit 1; }
      rm -f "$T_DIR/out/$key.mp4"
      CH+=("$w") CR+=("$(secs "$key")") CU+=("$(secs "$key.then1")")
      echo "  chained parts: render $(secs "$key") s, upload $(secs "$key.then1") s"

    else
      OV+=("$w")
    fi
    [ -n "$bytes" ] && [ "$bytes" -gt 1000000 ] || { echo "object $key missing or small ($bytes)" >&2; exit 1; }
    s3curl -f -X DELETE "$EP/$B/$key" >/dev/null
    echo "run $i $side: wall ${w} s, object $((bytes / 1048576)) MiB"
  done
done
median() { printf '%s\n' "$@" | sort -g | awk '{a[NR]=$1} END{print (NR%2)?a[(NR+1)/2]:(a[NR/2]+a[NR/2+1])/2}'; }
mo=$(median "${OV[@]}")
mc=$(median "${CH[@]}")
echo "overlapped median wall ${mo} s (runs: ${OV[*]})"
echo "chained    median wall ${mc} s (runs: ${CH[*]}; its render $(median "${CR[@]}") s, upload $(median "${CU[@]}") s)"
echo "upload rate cap ${RATE} bit/s, output video ${BITRATE} bit/s, preset ${PRESET}, ${SECS} s 1080p30"
python3 -c "print(f'ratio {$mo / $mc:.3f}')"
