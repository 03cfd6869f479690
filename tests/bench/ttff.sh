#!/usr/bin/env bash
# tests/bench/ttff.sh: time to first frame of a remote source, decoded while it
# downloads (progressive) against after the whole download (issue 9, point 1;
# not a timed test, not run in CI).
#
# One generated faststart MP4 (moov first; about 50 MB: 20 s of 720p30 H.264 at
# 20 Mbit/s) served by tests/http_source.py throttled to BENCH_RATE bytes/s
# (all connections together; default 12500000 = 100 Mbit/s), rendered with
# vodq-compose from its http:// URL (a 2 s trim at 640x360, fresh cache each
# run) two ways, alternating, RUNS times each:
#   progressive  the default: the render reads the cache file as it grows
#   full         "inputs": {"progressive": false}: the render starts once the
#                whole file is in the cache
# The figure is the result's ttff_ms: milliseconds from the start of the
# compose (what a job's start is to the worker) to the first frame the render
# produced (seen by the engine's progress callback, every 200 ms at most).
# For reference, the same render from the local file (no download) is timed
# once per run too. Prints the medians, then, last, `ratio <progressive / full>`.
#
# Usage: tests/bench/ttff.sh [RUNS]        (default 3)
# Env:   VODQ_BIN (build/bin), BENCH_RATE (bytes/s, 12500000), BENCH_MBITS
#        (video bitrate of the source in Mbit/s, 20), BENCH_SECONDS (20),
#        BENCH_KEEP=1 keeps the folder.
set -euo pipefail
VODQ_SRC=${VODQ_SRC:-$(cd "$(dirname "$0")/../.." && pwd)}
VODQ_TESTS=${VODQ_TESTS:-$VODQ_SRC/tests}
VODQ_BIN=${VODQ_BIN:-$VODQ_SRC/build/bin}
export VODQ_SRC VODQ_TESTS VODQ_BIN
T_KEEP=${BENCH_KEEP:-}
. "$VODQ_TESTS/lib.sh"
RUNS=${1:-3}
RATE=${BENCH_RATE:-12500000}
MBITS=${BENCH_MBITS:-20}
SECS=${BENCH_SECONDS:-20}
[ -x "$VODQ_BIN/vodq-compose" ] || { echo "vodq-compose not built in $VODQ_BIN" >&2; exit 1; }

W=$T_DIR/www; mkdir -p "$W"
echo "# generating a ${SECS} s 720p30 faststart source at ${MBITS} Mbit/s"
ffmpeg -hide_banner -nostdin -loglevel error -y -f lavfi -i "testsrc2=s=1280x720:r=30" \
  -f lavfi -i "sine=f=440:r=48000" -t "$SECS" -vf format=yuv420p -c:v libx264 -preset ultrafast \
  -b:v "${MBITS}M" -minrate "${MBITS}M" -maxrate "${MBITS}M" -bufsize "$((MBITS * 2))M" -g 60 \
  -c:a aac -b:a 128k -movflags +faststart "$W/src.mp4"
SIZE=$(stat -c %s "$W/src.mp4")
echo "# source: $SIZE bytes; served at $RATE bytes/s (full download about $(python3 -c "print(round($SIZE / $RATE, 1))") s)"
HP=$(free_port)
/usr/bin/python3 "$VODQ_TESTS/http_source.py" "$W" "$HP" "$T_DIR/req.log" "$RATE" >"$T_DIR/http.log" 2>&1 &
T_PIDS+=($!)
wait_for 10 curl -sf -o /dev/null -I "http://127.0.0.1:$HP/src.mp4"
cat >"$T_DIR/t.json" <<JSON
{"version":1,"tracks":[{"clips":[{"type":"video","src":"http://127.0.0.1:$HP/src.mp4","in":1,"out":3}]}],
 "output":{"width":640,"height":360,"fps":30,"preset":"ultrafast","crf":30}}
JSON
echo '{}' >"$T_DIR/prog.json"
echo '{"progressive":false}' >"$T_DIR/full.json"
sed "s#http://127.0.0.1:$HP/src.mp4#$W/src.mp4#" "$T_DIR/t.json" >"$T_DIR/tlocal.json"
# run KIND N: prints ttff_ms
run() {
  if [ "$1" = local ]; then
    "$VODQ_BIN/vodq-compose" --json "$T_DIR/tlocal.json" "$T_DIR/out-local-$2.mp4" 2>"$T_DIR/log-local-$2" |
      python3 -c 'import json,sys; print(json.load(sys.stdin)["ttff_ms"])'
    return
  fi
  rm -rf "$T_DIR/cache-$1-$2"
  "$VODQ_BIN/vodq-compose" --json --cache-dir "$T_DIR/cache-$1-$2" --inputs "$T_DIR/$1.json" \
    "$T_DIR/t.json" "$T_DIR/out-$1-$2.mp4" 2>"$T_DIR/log-$1-$2" |
    python3 -c 'import json,sys; print(json.load(sys.stdin)["ttff_ms"])'
}
PR=() FU=() LO=()
for i in $(seq 1 "$RUNS"); do
  p=$(run prog "$i"); f=$(run full "$i"); l=$(run local "$i")
  echo "run $i: progressive ${p} ms, full ${f} ms, local file ${l} ms"
  PR+=("$p") FU+=("$f") LO+=("$l")
done
median() { printf '%s\n' "$@" | sort -g | awk '{a[NR]=$1} END{print (NR%2)?a[(NR+1)/2]:(a[NR/2]+a[NR/2+1])/2}'; }
mp=$(median "${PR[@]}")
mf=$(median "${FU[@]}")
echo "progressive median ttff_ms $mp"
echo "full median ttff_ms $mf"
echo "local file median ttff_ms $(median "${LO[@]}") (reference: no download)"
echo "load average: $(cut -d' ' -f1-3 /proc/loadavg)"
echo "ratio $(python3 -c "print(round($mp / $mf, 3))")"
