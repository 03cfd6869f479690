#!/usr/bin/env bash
# compose_loudness.sh (issue 6 item 4): output.loudness_lufs normalises the mix
# to an EBU R128 integrated loudness target, measured on the output with
# ffmpeg's ebur128 filter within 1 LU (targets -16 and -23, from a mix that
# is far quieter than either, and from one that is louder than -23); without
# the field the level is left alone. Impossible targets and unknown colour
# settings are rejected before rendering, naming the field.
set -euo pipefail
. "${VODQ_TESTS:-$(cd "$(dirname "$0")/.." && pwd)}/compose_lib.sh"
compose_require
cd "$T_DIR"

# a quiet programme: clips with a -30 dB tone (about -42 LUFS), music under it
gen_testsrc quiet.mp4 4 320 240 25 440 -30
gen_testsrc loud.mp4 4 320 240 25 440 6 # about -14 LUFS
gen_music music.wav 8 660 -26

# tl NAME AUDIO-SRC OUTPUT-EXTRA: 8 s (two clips and music), extra output fields
tl() {
  printf '{ "version": 1, "tracks": [ { "clips": [
    { "type": "video", "src": "%s", "out": 4 }, { "type": "video", "src": "%s", "out": 4 } ] } ],
    "music": { "src": "music.wav", "volume": 0.5 },
    "output": { "width": 320, "height": 240, "fps": 25, "preset": "ultrafast"%s } }\n' \
    "$2" "$2" "$3" >"$1.json"
}

tl plain quiet.mp4 ''
render plain
base=$(loudness_i plain.mp4 || echo none)
check "no target: the level is left alone (I = $base LUFS, well under -30)" num_lt "$base" -30

for target in -16 -23; do
  tl "lufs$target" quiet.mp4 ", \"loudness_lufs\": $target"
  render "lufs$target"
  i=$(loudness_i "lufs$target.mp4" || echo none)
  check "loudness_lufs $target from a quiet mix: integrated loudness $i LUFS within 1 LU" \
    num_near "$i" "$target" 1
  end=$(probe_end "lufs$target.mp4" a)
  check "loudness_lufs $target: audio still lasts 8 s ($end)" num_near "$end" 8 0.04
done

tl loud23 loud.mp4 ', "loudness_lufs": -23'
render loud23
i0=$(loudness_i loud.mp4 || echo none)
i=$(loudness_i loud23.mp4 || echo none)
check "loudness_lufs -23 from a loud mix (source $i0 LUFS): integrated loudness $i LUFS within 1 LU" \
  num_near "$i" -23 1

# --- rejected settings -----------------------------------------------------------
# bad NAME FIELD OUTPUT-EXTRA: non-zero exit, the field named on stderr, no file
bad() {
  local name
  name=bad_$(echo "$1" | tr -c 'a-zA-Z0-9\n' _)
  tl "$name" quiet.mp4 ", $3"
  expect_rejected "$1" "$name" "$2"
}
bad "target +5 LUFS" output.loudness_lufs '"loudness_lufs": 5'
bad "target -100 LUFS" output.loudness_lufs '"loudness_lufs": -100'
bad "target 0 LUFS" output.loudness_lufs '"loudness_lufs": 0'
bad "target as text" output.loudness_lufs '"loudness_lufs": "loud"'
bad "colour bt2020" output.color '"color": "bt2020"'
bad "colour srgb" output.color '"color": "srgb"'
bad "colour as a number" output.color '"color": 709'
bad "colour range studio" output.color_range '"color_range": "studio"'

t_done
