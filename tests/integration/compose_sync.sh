#!/usr/bin/env bash
# compose_sync.sh (issue 6 item 2): A/V sync and frame accuracy of vodq-compose.
#  - the audio and video streams of every output end within one video frame
#    of each other (and of the timeline's duration);
#  - a trim starts on the exact source frame: the sources' frames carry their
#    own number in their luma (gen_numbered), so every output frame is
#    checked against the source frame it must show;
#  - a speed change keeps sound and pictures aligned: the source has short
#    beeps at known source times; the time a beep is heard in the output is
#    compared with the time the output shows the source frame of that
#    instant (both measured on the output), for speeds 1, 2 and 0.5, after cuts.
set -euo pipefail
. "${VODQ_TESTS:-$(cd "$(dirname "$0")/.." && pwd)}/compose_lib.sh"
compose_require
cd "$T_DIR"

gen_numbered num25.mp4 4 320 240 25
gen_numbered num50.mp4 2 320 240 50
gen_numbered_beeps beeps.mov 4 25
gen_image still.png 320 240 0x336699
gen_music music.wav 1.3 660 -14

OUT25='"output": { "width": 320, "height": 240, "fps": 25, "preset": "ultrafast", "crf": 10 }'

# av_end NAME FPS EXPECTED_S: both streams end within one frame of each
# other; the video has a constant frame rate (frame i at i / FPS) and ends
# at the timeline's exact duration (within half a frame)
av_end() {
  local f=$1.mp4 fps=$2 want=$3 v a frame irr
  frame=$(awk -v r="$fps" 'BEGIN { split(r, p, "/"); printf "%.6f", (p[2] ? p[2] : 1) / p[1] }')
  v=$(probe_end "$f" v) a=$(probe_end "$f" a)
  check "$1: audio ($a s) and video ($v s) end within one frame ($frame s) of each other" \
    num_near "$a" "$v" "$frame"
  check "$1: video ends at $want s (±1/2 frame; $v)" num_near "$v" "$want" "$(awk -v f="$frame" 'BEGIN { print f / 2 }')"
  irr=$(pts_irregular "$f" "$fps")
  check "$1: every frame i is shown at i/fps${irr:+ (not $irr)}" [ -z "$irr" ]
}

# render_json NAME JSON: writes NAME.json and renders it
render_json() { printf '%s\n' "$2" >"$1.json"; render "$1"; }

# --- trims start on the exact source frame ----------------------------------------
# num25: frame n has number n. in 0.53 -> nearest frame 13 (0.52 s); 1 s = 25
# frames: 13..37. Then 2.0..2.4: 50..59. Then in 0.96, 0.04 s: frame 24 only.
# (Found by this test: FFmpeg 5.1's concat guesses where a segment ends from
# the mean interval of its frames, which is 0 for a one-frame clip; a plan
# that relies on concat's timestamps puts the next clip's first frame on the
# same timestamp (1.400078 s instead of 1.44 s) and the video ends a frame
# early. The output must keep one frame every 1/fps.)
# num50 (50 fps into 25 fps): in 0.5 -> frame 25, then every second frame
# (0.5 s = 12.5 output frames, rounded to 13: 25, 27, ..., 49).
render_json trim '{ "version": 1, "tracks": [ { "clips": [
  { "type": "video", "src": "num25.mp4", "in": 0.53, "out": 1.53 },
  { "type": "video", "src": "num25.mp4", "in": 2.0, "out": 2.4 },
  { "type": "video", "src": "num25.mp4", "in": 0.96, "out": 1.0 },
  { "type": "video", "src": "num50.mp4", "in": 0.5, "out": 1.0 } ] } ], '"$OUT25"' }'
expected=$( { seq 13 37; seq 50 59; echo 24; seq 25 2 49; } | awk '{ print $1 % 70 }' | tr '\n' ' ')
actual=$(frame_lumas trim.mp4 | while read -r y; do frame_number_of "$y"; done | tr '\n' ' ')
expect_eq "trim: every output frame is the exact source frame (cuts at 0.53, 2.0, 0.96; 50 fps source at 0.5)" \
  "$expected" "$actual"
av_end trim 25 1.96 # 25 + 10 + 1 + 13 frames (0.5 s at 25 fps = 12.5, rounded up)

# --- speed keeps sound and pictures aligned -----------------------------------------
# beeps.mov: beeps centred on source times 1.25 s and 3.25 s (numbers 31.25 and 81.25)
# clip 1, speed 1, source 0..2: beep at 1.25 s
# clip 2, speed 2, source 0..4, starts at 2 s: beeps at 2.625 s and 3.625 s
# clip 3, speed 0.5, source 0..2, starts at 4 s: beep at 6.5 s
render_json speed '{ "version": 1, "tracks": [ { "clips": [
  { "type": "video", "src": "beeps.mov", "in": 0, "out": 2 },
  { "type": "video", "src": "beeps.mov", "in": 0, "out": 4, "speed": 2 },
  { "type": "video", "src": "beeps.mov", "in": 0, "out": 2, "speed": 0.5 } ] } ], '"$OUT25"' }'
av_end speed 25 8
frame_lumas speed.mp4 >speed.lumas
audio_bursts speed.mp4 >speed.bursts
# For each expected beep (output start and end of its clip, speed, source
# time, nominal output time):
# the audio time is the burst centroid nearest the nominal time; the video
# time is when the output shows source time S: the output frame i (within the
# clip) whose source number n_i is nearest S*25, corrected by the fraction
# of a frame: t_v = start + (i + (S*25 - n_i) / speed) / 25.
while read -r start end speed s_time nominal; do
  res=$(python3 - "$start" "$end" "$speed" "$s_time" "$nominal" speed.lumas speed.bursts <<'EOF'
import sys
start, end, speed, s, nominal = map(float, sys.argv[1:6])
lumas = [float(x) for x in open(sys.argv[6])]
bursts = [float(x) for x in open(sys.argv[7])]
fps = 25.0
first, last = int(round(start * fps)), int(round(end * fps))
clip_frames = [(i, int((y - 16) / 3 + 0.5)) for i, y in enumerate(lumas)][first:last]
# unwrap the modulo-70 numbers within the clip
nums, prev, base = [], None, 0
for i, n in clip_frames:
    if prev is not None and n < prev - 35:
        base += 70
    prev = n
    nums.append((i - first, n + base))
want = s * fps
i, n = min(nums, key=lambda p: abs(p[1] - want))
t_v = start + (i + (want - n) / speed) / fps
t_a = min(bursts, key=lambda t: abs(t - nominal)) if bursts else float("nan")
print("%.4f %.4f %.4f" % (t_a, t_v, abs(t_a - t_v)))
EOF
) || res="none none none"
  read -r t_a t_v diff <<<"$res"
  check "speed $speed: beep of source ${s_time}s heard at $t_a s, its frame shown at $t_v s (nominal $nominal s): within one frame" \
    num_lt "$diff" 0.04
  check "speed $speed: beep of source ${s_time}s heard within one frame of its nominal time $nominal s ($t_a)" \
    num_near "$t_a" "$nominal" 0.04
done <<'EOF'
0 2 1 1.25 1.25
2 4 2 1.25 2.625
2 4 2 3.25 3.625
4 8 0.5 1.25 6.5
EOF
n=$(wc -l <speed.bursts)
expect_eq "speed: exactly 4 beeps in the output (no beep lost or doubled)" 4 "$n"

# --- A/V end together in every kind of output -----------------------------------------
# images only (silent sources), a transition between them, music shorter than the timeline
render_json images '{ "version": 1, "tracks": [ { "clips": [
  { "type": "image", "src": "still.png", "duration": 1.5, "transition": { "type": "wipeleft", "duration": 0.5 } },
  { "type": "image", "src": "still.png", "duration": 1.3 } ] } ],
  "music": { "src": "music.wav", "start": 0.3 }, '"$OUT25"' }'
av_end images 25 2.32 # 38 + 33 - 13 = 58 frames
# NTSC rate, 44.1 kHz, odd trims, speed 1.5, a looped music bed, a dissolve
render_json ntsc '{ "version": 1, "tracks": [ { "clips": [
  { "type": "video", "src": "num25.mp4", "in": 0.37, "out": 1.91, "speed": 1.5,
    "transition": { "type": "dissolve", "duration": 0.3 } },
  { "type": "video", "src": "beeps.mov", "in": 0.11, "out": 1.77 } ] } ],
  "music": { "src": "music.wav", "loop": true, "volume": 0.3 },
  "output": { "width": 320, "height": 240, "fps": "30000/1001", "sample_rate": 44100,
              "preset": "ultrafast" } }'
# in and out land on the 25 fps sources' nearest frames: 0.36..1.92 = 1.56 s,
# / 1.5 = 1.04 s -> 31 frames; 0.12..1.76 = 1.64 s -> 49 frames; dissolve 9
# frames: 71 frames
av_end ntsc 30000/1001 "$(awk 'BEGIN { printf "%.6f", 71 * 1001 / 30000 }')"

t_done
