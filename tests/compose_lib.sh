# tests/compose_lib.sh: helpers for the compose integration tests and the
# compose benchmark (bash). Source it after setting nothing:
#   . "${VODQ_TESTS:-$(dirname "$0")/..}/compose_lib.sh"
# It sources lib.sh (T_DIR temporary folder removed by the EXIT trap, ok /
# not_ok / check / expect_eq / t_done), then adds:
#   - media generation with the ffmpeg command line (sources whose frames carry
#     their own number, solid colours, tones of a given level, images, logos,
#     music);
#   - probes with ffprobe (stream durations, size, rate, frame counts, tags);
#   - measurements of a rendered file (pixel colours, per-frame luma, mean
#     volume of a time range, SSIM/PSNR minimum against a reference, EBU R128
#     integrated loudness);
#   - numeric comparisons for floating point figures.
# Every generator writes into the path it is given, overwriting it, and fails
# (non-zero) when ffmpeg fails; its log goes to $T_DIR/gen.log.
# shellcheck shell=bash

. "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

COMPOSE="$VODQ_BIN/vodq-compose"
FF=(ffmpeg -hide_banner -nostdin -loglevel error -y)

# compose_require: the tests need the real engine; a missing binary is a
# failure, never a silent skip.
compose_require() {
  local tool
  for tool in ffmpeg ffprobe python3; do
    command -v "$tool" >/dev/null || { not_ok "$tool not installed"; exit 1; }
  done
  if [ ! -x "$COMPOSE" ]; then
    not_ok "vodq-compose not built: $COMPOSE (build the vodq-compose target)"
    exit 1
  fi
}

# COMPOSE_TIMEOUT: seconds one vodq-compose run may take before it is
# stopped (SIGTERM, then SIGKILL 5 s later) and counted as failed (exit 124)
COMPOSE_TIMEOUT=${COMPOSE_TIMEOUT:-120}

# run_compose ARGS...: vodq-compose ARGS under the timeout (and $VODQ_WRAP)
run_compose() {
  # shellcheck disable=SC2086
  timeout -k 5 "$COMPOSE_TIMEOUT" $VODQ_WRAP "$COMPOSE" "$@"
}

# compose NAME TIMELINE OUT [args...]: runs vodq-compose; stdout and stderr go
# to $T_DIR/NAME.out and $T_DIR/NAME.err; returns its exit status.
compose() {
  local name=$1 tl=$2 out=$3; shift 3
  local rc=0
  run_compose "$tl" "$out" "$@" >"$T_DIR/$name.out" 2>"$T_DIR/$name.err" || rc=$?
  if [ "$rc" -ne 0 ]; then
    echo "# vodq-compose $tl exited $rc$( [ "$rc" = 124 ] && echo " (timed out after $COMPOSE_TIMEOUT s)"):" >&2
    tail -n 5 "$T_DIR/$name.err" | sed 's/^/#   /' >&2
  fi
  return "$rc"
}

# render NAME: renders NAME.json to NAME.mp4 and says "ok - NAME: renders";
# a failure is reported, and the checks of NAME.mp4 that follow fail on the
# missing file
render() {
  if compose "$1" "$1.json" "$1.mp4"; then ok "$1: renders"; else not_ok "$1: renders"; fi
}

# plan_argv TIMELINE OUT [ENCODER]: the ffmpeg command line that renders the
# timeline's own render plan (vodq-compose --print-ffmpeg-args), NUL-separated
# on stdout. The flag prints one argument a line; only the -filter_complex
# graph spans lines (up to the first "-map"), so its lines are joined again.
plan_argv() {
  run_compose --print-ffmpeg-args "$1" "$2" ${3:+--encoder "$3"} | python3 -c '
import sys
lines = sys.stdin.read().split("\n")
if lines and lines[-1] == "":
    lines.pop()
out, i = [], 0
while i < len(lines):
    out.append(lines[i])
    if lines[i] == "-filter_complex":
        j = lines.index("-map", i + 1)
        out.append("\n".join(lines[i + 1:j]))
        i = j
        continue
    i += 1
sys.stdout.write("".join(a + "\0" for a in out))
'
}

# expect_rejected DESC NAME TEXT: vodq-compose NAME.json NAME.mp4 must exit
# non-zero, say TEXT (a JSON path, a file name) on stderr, and leave no NAME.mp4
expect_rejected() {
  local desc=$1 name=$2 want=$3 rc=0 msg
  run_compose "$name.json" "$name.mp4" >"$T_DIR/$name.out" 2>"$T_DIR/$name.err" || rc=$?
  msg=$(tr '\n' ' ' <"$T_DIR/$name.err" | cut -c1-200)
  if [ "$rc" -ne 0 ] && grep -qF -- "$want" "$T_DIR/$name.err" && [ ! -e "$name.mp4" ]; then
    ok "$desc: rejected naming '$want' ($msg)"
  else
    not_ok "$desc: exit $rc, stderr '$msg' (expected non-zero naming '$want', no output)"
  fi
}

# ---------------------------------------------------------------------------
# Numbers (awk, so that "-16.3" and "inf" work)

# The checks below FAIL when an argument is not a number (an empty string
# from a measurement of a missing or broken file never passes).
_isnum() { [[ $1 =~ ^-?[0-9]+(\.[0-9]+)?([eE][-+]?[0-9]+)?$ ]]; }

# num_near A B TOL: |A - B| <= TOL (plus 1e-9 for decimal rounding)
num_near() {
  _isnum "$1" && _isnum "$2" && _isnum "$3" &&
    awk -v a="$1" -v b="$2" -v t="$3" 'BEGIN { d = a - b; if (d < 0) d = -d; exit !(d <= t + 1e-9) }'
}
# num_ge A B: A >= B ("inf" is larger than any number)
num_ge() {
  { _isnum "$1" || [ "$1" = inf ]; } && { _isnum "$2" || [ "$2" = inf ]; } || return 1
  [ "$1" = inf ] && return 0
  [ "$2" = inf ] && return 1
  awk -v a="$1" -v b="$2" 'BEGIN { exit !(a + 0 >= b + 0) }'
}
# num_lt A B: A < B
num_lt() {
  { _isnum "$1" || [ "$1" = inf ]; } && { _isnum "$2" || [ "$2" = inf ]; } && ! num_ge "$1" "$2"
}
# num_between X LO HI: LO <= X <= HI
num_between() { num_ge "$1" "$2" && num_ge "$3" "$1"; }

# _isrgb "R G B": three numbers
_isrgb() { [[ $1 =~ ^[0-9]+\ [0-9]+\ [0-9]+$ ]]; }

# rgb_near "R G B" "R G B" TOL: every channel within TOL
rgb_near() {
  _isrgb "$1" && _isrgb "$2" && _isnum "$3" &&
  awk -v a="$1" -v b="$2" -v t="$3" 'BEGIN {
    split(a, x, " "); split(b, y, " ");
    for (i = 1; i <= 3; i++) { d = x[i] - y[i]; if (d < 0) d = -d; if (d > t) exit 1 }
    exit 0 }'
}

# rgb_between "R G B" "R1 G1 B1" "R2 G2 B2" MARGIN: each channel of the first
# lies strictly between the two others' (by at least MARGIN from both ends)
# on every channel where those differ by more than 2*MARGIN.
rgb_between() {
  _isrgb "$1" && _isrgb "$2" && _isrgb "$3" && _isnum "$4" &&
  awk -v c="$1" -v a="$2" -v b="$3" -v m="$4" 'BEGIN {
    split(c, x, " "); split(a, p, " "); split(b, q, " "); n = 0
    for (i = 1; i <= 3; i++) {
      lo = p[i] < q[i] ? p[i] : q[i]; hi = p[i] < q[i] ? q[i] : p[i]
      if (hi - lo <= 2 * m) continue
      n++
      if (x[i] < lo + m || x[i] > hi - m) exit 1
    }
    exit !(n > 0) }'
}

# ---------------------------------------------------------------------------
# Media generation. Sizes default to 320x240 at 25 fps; audio is a sine tone
# at FREQ Hz and LEVEL dBFS (FREQ 0 = no audio stream), AAC 48 kHz.

_gen() { "${FF[@]}" "$@" 2>>"$T_DIR/gen.log" || { echo "# ffmpeg failed: $*" >&2; return 1; }; }

# _tone_args DUR FREQ LEVEL: the lavfi input and codec args of the tone
_tone_in() { [ "$2" = 0 ] || echo "-f lavfi -i sine=f=$2:r=48000:d=$1"; }
_tone_out() { [ "$2" = 0 ] && echo "-an" || echo "-af volume=${3}dB -c:a aac -b:a 128k -ar 48000 -ac 2"; }

# gen_numbered OUT DUR [W H FPS FREQ LEVEL]: a grey picture whose luma says
# its frame number n: Y = 16 + 3 * (n mod 70) (limited range, chroma 128);
# lossless H.264 so that each frame keeps its exact value. frame_number_of
# turns a measured luma back into n.
gen_numbered() {
  local out=$1 d=$2 w=${3:-320} h=${4:-240} r=${5:-25} f=${6:-440} l=${7:--20}
  # shellcheck disable=SC2046
  _gen -f lavfi -i "color=c=black:s=${w}x${h}:r=$r:d=$d,format=yuv420p,geq=lum='16+3*mod(N,70)':cb=128:cr=128" \
    $(_tone_in "$d" "$f") -map 0:v $( [ "$f" = 0 ] || echo "-map 1:a" ) \
    -c:v libx264 -preset ultrafast -qp 0 -pix_fmt yuv420p $(_tone_out "$d" "$f" "$l") "$out"
}

# frame_number_of LUMA: the n of gen_numbered's frame with that luma (nearest)
frame_number_of() { awk -v y="$1" 'BEGIN { printf "%d\n", (y - 16) / 3 + 0.5 }'; }

# gen_numbered_beeps OUT DUR [FPS]: gen_numbered's picture (no wrap check:
# keep DUR * FPS < 70 or mind the modulo) with sound that is silent except
# for 0.1 s 1 kHz beeps at 1.2-1.3 s, 3.2-3.3 s, 5.2-5.3 s... (every 2 s),
# stored as PCM in a QuickTime file so that the source itself has no AAC
# pre-echo: a beep's centre is exactly 1.25 s (+ 2k s) of source time.
gen_numbered_beeps() {
  local out=$1 d=$2 r=${3:-25}
  _gen -f lavfi -i "color=c=black:s=320x240:r=$r:d=$d,format=yuv420p,geq=lum='16+3*mod(N,70)':cb=128:cr=128" \
    -f lavfi -i "aevalsrc='if(between(mod(t,2),1.2,1.3),0.5*sin(2*PI*1000*t),0)':s=48000:d=$d" \
    -c:v libx264 -preset ultrafast -qp 0 -pix_fmt yuv420p -c:a pcm_s16le "$out"
}

# gen_testsrc OUT DUR [W H FPS FREQ LEVEL]: testsrc2 (moving picture with a
# counter) and a tone, near-lossless H.264 (crf 10).
gen_testsrc() {
  local out=$1 d=$2 w=${3:-320} h=${4:-240} r=${5:-25} f=${6:-440} l=${7:--20}
  # shellcheck disable=SC2046
  _gen -f lavfi -i "testsrc2=s=${w}x${h}:r=$r:d=$d" $(_tone_in "$d" "$f") \
    -map 0:v $( [ "$f" = 0 ] || echo "-map 1:a" ) \
    -c:v libx264 -preset ultrafast -crf 10 -pix_fmt yuv420p $(_tone_out "$d" "$f" "$l") "$out"
}

# gen_src OUT DUR SOURCE [FREQ LEVEL]: any lavfi video source expression
# (e.g. "color=c=red:s=320x240:r=25"; its duration is DUR), lossless H.264,
# limited range, BT.709 matrix and tags.
gen_src() {
  local out=$1 d=$2 src=$3 f=${4:-440} l=${5:--20}
  # shellcheck disable=SC2046
  _gen -f lavfi -i "$src,trim=duration=$d" $(_tone_in "$d" "$f") \
    -map 0:v $( [ "$f" = 0 ] || echo "-map 1:a" ) \
    -vf "scale=out_color_matrix=bt709:out_range=tv,format=yuv420p" \
    -color_primaries bt709 -color_trc bt709 -colorspace bt709 -color_range tv \
    -c:v libx264 -preset ultrafast -qp 0 $(_tone_out "$d" "$f" "$l") "$out"
}

# gen_solid OUT COLOR DUR [W H FPS FREQ LEVEL]: one colour (0xRRGGBB or a
# name) for the whole clip (see gen_src)
gen_solid() {
  gen_src "$1" "$3" "color=c=$2:s=${4:-320}x${5:-240}:r=${6:-25}" "${7:-440}" "${8:--20}"
}

# gen_image OUT W H [COLOR]: a PNG still; COLOR omitted = a testsrc2 picture
gen_image() {
  local out=$1 w=$2 h=$3 c=${4:-}
  if [ -n "$c" ]; then
    _gen -f lavfi -i "color=c=$c:s=${w}x${h}" -frames:v 1 -pix_fmt rgb24 "$out"
  else
    _gen -f lavfi -i "testsrc2=s=${w}x${h}" -frames:v 1 -pix_fmt rgb24 "$out"
  fi
}

# gen_logo OUT W H COLOR: an opaque solid-colour PNG with an alpha channel
gen_logo() { _gen -f lavfi -i "color=c=$4:s=${2}x${3}" -frames:v 1 -pix_fmt rgba "$1"; }

# gen_music OUT DUR [FREQ LEVEL]: a WAV tone (48 kHz stereo s16)
gen_music() {
  local out=$1 d=$2 f=${3:-660} l=${4:--14}
  _gen -f lavfi -i "sine=f=$f:r=48000:d=$d" -af "volume=${l}dB" -ac 2 -c:a pcm_s16le "$out"
}

# gen_sd_bars OUT DUR: 640x480 SMPTE colour bars, BT.601 (smpte170m) tagged,
# limited range, lossless H.264, with a tone.
gen_sd_bars() {
  local out=$1 d=$2
  _gen -f lavfi -i "smptebars=s=640x480:r=25:d=$d" -f lavfi -i "sine=f=440:r=48000:d=$d" \
    -vf "scale=out_color_matrix=bt601:out_range=tv,format=yuv420p" \
    -color_primaries smpte170m -color_trc smpte170m -colorspace smpte170m -color_range tv \
    -c:v libx264 -preset ultrafast -qp 0 -c:a aac -b:a 128k "$out"
}

# ---------------------------------------------------------------------------
# Probes (ffprobe)

# probe_stream FILE v|a FIELD: a field of the first video/audio stream
probe_stream() {
  ffprobe -v error -select_streams "$2:0" -show_entries "stream=$3" \
    -of default=noprint_wrappers=1:nokey=1 "$1" | head -n 1
}
# probe_count FILE v|a: stream count of that type
probe_count() {
  ffprobe -v error -select_streams "$2" -show_entries stream=index -of csv=p=0 "$1" | grep -c . || true
}
# probe_frames FILE: decoded video frame count
probe_frames() {
  ffprobe -v error -count_frames -select_streams v:0 -show_entries stream=nb_read_frames \
    -of default=noprint_wrappers=1:nokey=1 "$1"
}
# probe_end FILE v|a: where the stream's last frame/packet ends, from the
# packets (pts + duration of the last one, minus the first pts), seconds
probe_end() {
  ffprobe -v error -select_streams "$2:0" -show_entries packet=pts_time,duration_time \
    -of csv=p=0 "$1" | awk -F, '
      NR == 1 || $1 < first { first = $1 }
      { e = $1 + $2; if (e > end) end = e }
      END { printf "%.6f\n", end - (first < 0 ? first : 0) }'
}
# pts_irregular FILE FPS: the first video frame (in presentation order) whose
# timestamp is not i / FPS (within a quarter frame), as "frame I at T s
# (expected E s)"; nothing when all are regular. FPS may be "num/den".
pts_irregular() {
  ffprobe -v error -select_streams v:0 -show_entries packet=pts_time -of csv=p=0 "$1" | sort -g |
    awk -v r="$2" 'BEGIN { split(r, p, "/"); f = (p[2] ? p[2] : 1) / p[1] }
      { e = (NR - 1) * f; d = $1 - e; if (d < 0) d = -d
        if (d > f / 4) { printf "frame %d at %s s (expected %.6f s)\n", NR - 1, $1, e; exit } }'
}


# ---------------------------------------------------------------------------
# Measurements of a rendered file

# _px_filter X Y BOX: crop a BOX x BOX square at (X, Y) and average it
_px_filter() { echo "crop=$3:$3:$1:$2,scale=1:1:flags=area,format=rgb24"; }

# pixel_at FILE T X Y [BOX]: "R G B" of the frame shown at time T (the first
# frame whose pts >= T), averaged over the BOX x BOX square (default 4) whose
# top-left corner is (X, Y).
pixel_at() {
  local f=$1 t=$2 x=$3 y=$4 b=${5:-4}
  "${FF[@]}" -ss "$t" -i "$f" -vf "format=rgb24,$(_px_filter "$x" "$y" "$b")" -frames:v 1 \
    -f rawvideo -pix_fmt rgb24 - | od -An -tu1 -v | awk '{ $1 = $1; printf "%s\n", $0 }'
}

# frame_pixel FILE N X Y [BOX]: the same for frame number N (0-based)
frame_pixel() {
  local f=$1 n=$2 x=$3 y=$4 b=${5:-4}
  "${FF[@]}" -i "$f" -vf "select=eq(n\\,$n),format=rgb24,$(_px_filter "$x" "$y" "$b")" \
    -frames:v 1 -fps_mode passthrough -f rawvideo -pix_fmt rgb24 - |
    od -An -tu1 -v | awk '{ $1 = $1; printf "%s\n", $0 }'
}

# frame_lumas FILE [X Y W H]: mean luma (Y, as coded) of every frame, one a
# line, over the given rectangle (default: the whole picture).
frame_lumas() {
  local f=$1 crop=""
  [ $# -ge 5 ] && crop="crop=$4:$5:$2:$3,"
  "${FF[@]}" -i "$f" -vf "${crop}scale=2:2:flags=area,format=yuv420p" -fps_mode passthrough \
    -f rawvideo -pix_fmt yuv420p - | od -An -tu1 -v -w6 |
    awk 'NF == 6 { printf "%.1f\n", ($1 + $2 + $3 + $4) / 4 }'
}

# region_luma FILE T X Y W H: "MEAN MAX" luma (as coded, 16..235 for limited
# range) of the W x H rectangle at (X, Y) (even numbers) of the frame shown at T
region_luma() {
  local f=$1 t=$2 x=$3 y=$4 w=$5 h=$6
  "${FF[@]}" -ss "$t" -i "$f" -vf "crop=$w:$h:$x:$y,format=yuv420p" -frames:v 1 \
    -f rawvideo -pix_fmt yuv420p - | head -c $((w * h)) | od -An -tu1 -v |
    awk '{ for (i = 1; i <= NF; i++) { s += $i; n++; if ($i > m) m = $i } }
         END { if (n > 0) printf "%.1f %d\n", s / n, m }'
}

# mean_volume FILE START DUR: mean volume (dBFS) of the audio in
# [START, START + DUR); -91 or lower means silence
mean_volume() {
  ffmpeg -hide_banner -nostdin -nostats -ss "$2" -t "$3" -i "$1" -vn -af volumedetect \
    -f null - 2>&1 | awk '/mean_volume:/ { v = $(NF - 1) } END { if (v != "") print v }'
}

# audio_bursts FILE [THRESHOLD_DB]: the energy centroid (seconds) of every
# burst of sound louder than THRESHOLD_DB (default -30 dBFS, 5 ms windows)
# separated by at least 0.1 s of quiet, one a line. A centroid is robust to
# the AAC encoder's pre-echo and to atempo's windowing, unlike an onset.
audio_bursts() {
  ffmpeg -hide_banner -nostdin -loglevel error -i "$1" -vn -ac 1 -ar 48000 -f s16le - |
    python3 -c '
import math, struct, sys
data = sys.stdin.buffer.read()
n = len(data) // 2
s = struct.unpack("<%dh" % n, data[:2 * n])
rate, w = 48000, 240
thr = (10 ** (float(sys.argv[1]) / 20) * 32768) ** 2
e = [sum(x * x for x in s[i:i + w]) / w for i in range(0, n - w + 1, w)]
runs, cur, gap = [], None, 0
for k, v in enumerate(e):
    if v >= thr:
        cur = [k, k] if cur is None else [cur[0], k]
        gap = 0
    elif cur is not None:
        gap += 1
        if gap > 20:
            runs.append(cur)
            cur, gap = None, 0
if cur:
    runs.append(cur)
for a, b in runs:
    a, b = max(0, a - 10), min(len(e) - 1, b + 10)
    tot = sum(e[a:b + 1])
    print("%.4f" % (sum(e[k] * (k + 0.5) * w / rate for k in range(a, b + 1)) / tot))
' "${2:--30}"
}

# loudness_i FILE: EBU R128 integrated loudness (LUFS) of the audio
loudness_i() {
  ffmpeg -hide_banner -nostdin -nostats -i "$1" -vn -af ebur128=framelog=verbose -f null - 2>&1 |
    awk '/Integrated loudness:/ { s = 1 } s && /I:/ { v = $2; s = 0 } END { if (v != "") print v }'
}

# ssim_psnr FILE REF: compares every video frame of FILE with the same frame
# of REF (ffmpeg's ssim and psnr filters, per-frame stats files) and prints
# "frames N min_ssim S min_psnr P" (P may be "inf": identical frames).
ssim_psnr() {
  local f=$1 ref=$2 s p
  s=$(mktemp "$T_DIR/ssim.XXXXXX") p=$(mktemp "$T_DIR/psnr.XXXXXX")
  "${FF[@]}" -i "$f" -i "$ref" -filter_complex \
    "[0:v]split[a1][a2];[1:v]split[b1][b2];[a1][b1]ssim=stats_file=$s;[a2][b2]psnr=stats_file=$p" \
    -f null - 2>>"$T_DIR/gen.log" || { echo "frames 0 min_ssim none min_psnr none"; return 0; }
  paste -d' ' \
    <(awk '{ for (i = 1; i <= NF; i++) if ($i ~ /^All:/) { sub("All:", "", $i); print $i } }' "$s") \
    <(awk '{ for (i = 1; i <= NF; i++) if ($i ~ /^psnr_avg:/) { sub("psnr_avg:", "", $i); print $i } }' "$p") |
    awk 'BEGIN { ms = 2; mp = "inf" }
         { n++; if ($1 < ms) ms = $1
           if ($2 != "inf" && (mp == "inf" || $2 + 0 < mp + 0)) mp = $2 }
         END { printf "frames %d min_ssim %.5f min_psnr %s\n", n, ms, mp }'
}

# expect_near DESC EXPECTED ACTUAL TOL: ok when ACTUAL is within TOL of EXPECTED
expect_near() {
  if [ -n "$3" ] && num_near "$3" "$2" "$4"; then ok "$1 ($3, expected $2 ± $4)"
  else not_ok "$1 (got '$3', expected $2 ± $4)"; fi
}
# expect_rgb DESC "R G B" ACTUAL TOL: ok when every channel is within TOL
expect_rgb() {
  if [ -n "$3" ] && rgb_near "$3" "$2" "$4"; then ok "$1 ($3)"
  else not_ok "$1 (got '$3', expected '$2' ± $4)"; fi
}

# Probes and measurements never fail (so that `x=$(pixel_at ...)` cannot stop
# a `set -e` script): they print nothing, or "none", when the file is missing
# or unreadable, and the check using the value then fails on it.
for _f in probe_stream probe_count probe_frames probe_end pts_irregular pixel_at frame_pixel \
  frame_lumas region_luma mean_volume audio_bursts loudness_i ssim_psnr; do
  eval "_raw_$_f() $(declare -f "$_f" | tail -n +2)"
  eval "$_f() { _raw_$_f \"\$@\" || true; }"
done
unset _f
