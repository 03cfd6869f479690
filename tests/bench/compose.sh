#!/usr/bin/env bash
# tests/bench/compose.sh: the compose benchmark (issue 4; not a timed test).
#
# Renders one generated 1080p timeline (4 clips of H.264 1080p30 sources, a
# fade and a wipe, a caption, a PNG watermark, looped music with a fade-in;
# about 10 s of output) three ways, alternating, RUNS times each:
#   vodq     vodq-compose TIMELINE OUT.mp4
#   cli      the ffmpeg command line with the SAME filter graph, inputs and
#            encoder settings: the argv of vodq_plan_ffmpeg_args() for the
#            timeline's render plan, printed by vodq-compose --print-ffmpeg-args
#   floor    the encode-only floor: the same encoder, preset, CRF and GOP on
#            the same number of frames of the same size, read as raw yuv420p
#            from /dev/shm (the vodq output decoded once beforehand, so the
#            content is the same); no decoding of sources, no filters
# and prints each side's median wall time (and CPU time), then, last,
# `ratio <vodq median / cli median>`. Goals (issue 4): ratio <= 0.9, and
# vodq <= 1.1 x floor.
#
# Usage: tests/bench/compose.sh [RUNS]      (default 3)
# Env:   VODQ_BIN (build/bin),
#        BENCH_ENCODER (libx264), BENCH_PRESET (veryfast), BENCH_SECONDS
#        (length of each source clip, default 3.5),
#        BENCH_KEEP=1 keeps the folder (media, outputs, argv).
set -euo pipefail
VODQ_SRC=${VODQ_SRC:-$(cd "$(dirname "$0")/../.." && pwd)}
VODQ_TESTS=${VODQ_TESTS:-$VODQ_SRC/tests}
VODQ_BUILD=${VODQ_BUILD:-$VODQ_SRC/build}
VODQ_BIN=${VODQ_BIN:-$VODQ_BUILD/bin}
export VODQ_SRC VODQ_TESTS VODQ_BUILD VODQ_BIN
T_KEEP=${BENCH_KEEP:-}
. "$VODQ_TESTS/compose_lib.sh"
compose_require

RUNS=${1:-3}
ENCODER=${BENCH_ENCODER:-libx264}
PRESET=${BENCH_PRESET:-veryfast}
SECS=${BENCH_SECONDS:-3.5}
SHM=$(mktemp -d /dev/shm/vodq-bench.XXXXXX)
trap 'rm -rf "$SHM"; t_cleanup' EXIT
cd "$T_DIR"

echo "# generating 1080p30 sources ($SECS s each) in $T_DIR"
for s in "testsrc2=s=1920x1080:r=30" "testsrc=s=1920x1080:r=30" \
         "gradients=s=1920x1080:r=30:speed=0.05:n=4" "mandelbrot=s=1440x1080:r=30"; do
  n=$((${n:-0} + 1))
  "${FF[@]}" -f lavfi -i "$s" -f lavfi -i "sine=f=$((300 + 110 * n)):r=48000" -t "$SECS" \
    -vf format=yuv420p -c:v libx264 -preset veryfast -crf 23 -g 60 \
    -c:a aac -b:a 128k -ac 2 "clip$n.mp4" 2>>"$T_DIR/gen.log"
done
"${FF[@]}" -f lavfi -i "testsrc2=s=400x200" -frames:v 1 -vf "format=rgba,colorchannelmixer=aa=0.8" \
  logo.png 2>>"$T_DIR/gen.log"
gen_music music.wav 6 523 -16

cat >bench.json <<EOF
{
  "version": 1,
  "tracks": [ { "clips": [
    { "type": "video", "src": "clip1.mp4", "in": 0.2, "out": 3.2,
      "transition": { "type": "fade", "duration": 0.5 } },
    { "type": "video", "src": "clip2.mp4", "in": 0.5, "out": 3.5,
      "transition": { "type": "wipeleft", "duration": 0.5 } },
    { "type": "video", "src": "clip3.mp4", "in": 0, "out": 2.5 },
    { "type": "video", "src": "clip4.mp4", "in": 0, "out": 3, "fit": "cover" } ] } ],
  "overlays": [ { "type": "image", "src": "logo.png", "anchor": "top-right", "x": 40, "y": 40,
                  "scale": 0.15, "opacity": 0.8 } ],
  "captions": [ { "text": "vodq benchmark 基准测试", "size": 64, "color": "#ffffff", "outline": 3,
                  "anchor": "bottom", "y": 80, "start": 1, "end": 9 } ],
  "music": { "src": "music.wav", "loop": true, "volume": 0.3, "fade_in": 1, "fade_out": 1 },
  "output": { "width": 1920, "height": 1080, "fps": 30, "video_codec": "h264", "crf": 23,
              "gop": 60, "preset": "$PRESET", "encoder": "$ENCODER" }
}
EOF

# --- the ffmpeg argv of the same plan -------------------------------------------------
argv_file=$T_DIR/cli.argv # NUL-separated, output path last
plan_argv bench.json "$SHM/cli.mp4" "$ENCODER" >"$argv_file"
mapfile -d '' CLI <"$argv_file"
CLI=("${CLI[0]}" -loglevel error -nostats "${CLI[@]:1}")
echo "# ffmpeg command line (vodq-compose --print-ffmpeg-args):"
printf '%q ' "${CLI[@]}" | cut -c1-500
echo "..."

# timed CMD...: runs it, appends "wall user+sys" to the file named by $TIMES
timed() {
  /usr/bin/time -f "%e %U %S" -o "$T_DIR/time.tmp" "$@" >>"$T_DIR/bench.log" 2>&1 ||
    { echo "failed: $* (see $T_DIR/bench.log)" >&2; tail -n 20 "$T_DIR/bench.log" >&2; T_KEEP=1; exit 1; }
  awk '{ printf "%s %.2f\n", $1, $2 + $3 }' "$T_DIR/time.tmp" >>"$TIMES"
}

# --- warm-up render (also the content of the floor) --------------------------------------
echo "# warm-up: vodq-compose once (not timed)"
"$COMPOSE" bench.json "$SHM/vodq.mp4" >>"$T_DIR/bench.log" 2>&1
frames=$(probe_frames "$SHM/vodq.mp4")
"${FF[@]}" -i "$SHM/vodq.mp4" -f rawvideo -pix_fmt yuv420p "$SHM/floor.yuv" 2>>"$T_DIR/gen.log"
echo "# output: $frames frames 1920x1080 @30; raw floor input $(du -m "$SHM/floor.yuv" | cut -f1) MiB in /dev/shm"
FLOOR=(ffmpeg -hide_banner -nostdin -loglevel error -nostats -y -f rawvideo -pix_fmt yuv420p
  -s 1920x1080 -r 30 -i "$SHM/floor.yuv" -c:v "$ENCODER" -preset "$PRESET" -crf 23 -g 60
  -pix_fmt yuv420p -an "$SHM/floor.mp4")

: >"$T_DIR/vodq.times" >"$T_DIR/cli.times" >"$T_DIR/floor.times"
for i in $(seq "$RUNS"); do
  TIMES=$T_DIR/vodq.times timed "$COMPOSE" bench.json "$SHM/vodq.mp4"
  TIMES=$T_DIR/cli.times timed "${CLI[@]}"
  TIMES=$T_DIR/floor.times timed "${FLOOR[@]}"
  echo "# run $i: vodq $(tail -n 1 "$T_DIR/vodq.times") | cli $(tail -n 1 "$T_DIR/cli.times") | floor $(tail -n 1 "$T_DIR/floor.times") (wall cpu, s)"
done

# same work on both sides?
fv=$(probe_frames "$SHM/vodq.mp4") fc=$(probe_frames "$SHM/cli.mp4") ff=$(probe_frames "$SHM/floor.mp4")
echo "# frames: vodq $fv, cli $fc, floor $ff"
[ "$fv" = "$fc" ] && [ "$fv" = "$ff" ] || echo "# WARNING: frame counts differ, the comparison is not like for like"

median() { sort -n | awk '{ v[NR] = $1 } END { print (NR % 2) ? v[(NR + 1) / 2] : (v[NR / 2] + v[NR / 2 + 1]) / 2 }'; }
mv=$(cut -d' ' -f1 "$T_DIR/vodq.times" | median) mc=$(cut -d' ' -f1 "$T_DIR/cli.times" | median)
mf=$(cut -d' ' -f1 "$T_DIR/floor.times" | median)
cv=$(cut -d' ' -f2 "$T_DIR/vodq.times" | median) cc_=$(cut -d' ' -f2 "$T_DIR/cli.times" | median)
cf=$(cut -d' ' -f2 "$T_DIR/floor.times" | median)
echo "machine: $(nproc) CPUs, $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | sed 's/^ //'); encoder $ENCODER preset $PRESET crf 23; $RUNS runs each, alternating"
echo "vodq-compose wall $mv s (cpu $cv s)"
echo "ffmpeg-cli wall $mc s (cpu $cc_ s)"
echo "encode-floor wall $mf s (cpu $cf s)"
echo "vodq/floor $(awk -v a="$mv" -v b="$mf" 'BEGIN { printf "%.3f", a / b }')"
echo "ratio $(awk -v a="$mv" -v b="$mc" 'BEGIN { printf "%.3f", a / b }')"
