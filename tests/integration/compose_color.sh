#!/usr/bin/env bash
# compose_color.sh (issue 6 item 3): colour of vodq-compose outputs.
#  - HD output carries BT.709 primaries, transfer, matrix and its range both in
#    the H.264 stream (the SPS VUI, read from the raw Annex B stream so the
#    container cannot supply it) and in the MP4 container (the colr/nclx atom,
#    parsed from the file's bytes); an SD (bt601) output carries SMPTE 170M the
#    same way; a full-range output says so in both places;
#  - an SD source (640x480 SMPTE bars, BT.601 / smpte170m tagged) put into an HD
#    BT.709 output is converted, not relabelled: each bar's colour, decoded
#    with the output's tags, matches the source's decoded with its own within a
#    small tolerance (a mere relabel is off by up to ~30 levels); the same
#    holds for an HD source next to it in the same timeline (mixed sources).
set -euo pipefail
. "${VODQ_TESTS:-$(cd "$(dirname "$0")/.." && pwd)}/compose_lib.sh"
compose_require
cd "$T_DIR"

gen_sd_bars sd.mp4 1
# HD bars (BT.709 tagged, see gen_src)
gen_src hd.mp4 1 "smptebars=s=1280x720:r=25"

# render_json NAME JSON: writes NAME.json and renders it
render_json() { printf '%s\n' "$2" >"$1.json"; render "$1"; }

# vui_tags FILE: "primaries transfer matrix range" as coded in the H.264 SPS
vui_tags() {
  "${FF[@]}" -i "$1" -map 0:v:0 -c copy -bsf:v h264_mp4toannexb -f h264 "$1.h264" 2>>"$T_DIR/gen.log"
  ffprobe -v error -show_entries stream=color_primaries,color_transfer,color_space,color_range \
    -of default=noprint_wrappers=1 "$1.h264" |
    awk -F= '{ v[$1] = $2 } END { print v["color_primaries"], v["color_transfer"], v["color_space"], v["color_range"] }'
}
# stream_tags FILE: the same as ffprobe reports for the MP4's video stream
stream_tags() {
  ffprobe -v error -select_streams v:0 \
    -show_entries stream=color_primaries,color_transfer,color_space,color_range \
    -of default=noprint_wrappers=1 "$1" |
    awk -F= '{ v[$1] = $2 } END { print v["color_primaries"], v["color_transfer"], v["color_space"], v["color_range"] }'
}
# colr_atom FILE: "primaries transfer matrix full_range" of the first
# colr atom of type nclx (ISO/IEC 23001-8 code points), or "none"
colr_atom() {
  python3 - "$1" <<'EOF'
import struct, sys
data = open(sys.argv[1], "rb").read()
i = data.find(b"colrnclx")
if i < 0:
    print("none")
else:
    p, t, m = struct.unpack(">HHH", data[i + 8:i + 14])
    print(p, t, m, data[i + 14] >> 7)
EOF
}

OUT='"width": 1280, "height": 720, "fps": 25, "preset": "ultrafast", "crf": 12'

# --- tags: HD BT.709, SD BT.601, full range -------------------------------------------
render_json hd '{ "version": 1, "tracks": [ { "clips": [ { "type": "video", "src": "hd.mp4", "out": 1 } ] } ],
  "output": { '"$OUT"' } }'
expect_eq "hd: stream (H.264 VUI) tags: primaries transfer matrix range" \
  "bt709 bt709 bt709 tv" "$(vui_tags hd.mp4)"
expect_eq "hd: ffprobe stream tags" "bt709 bt709 bt709 tv" "$(stream_tags hd.mp4)"
expect_eq "hd: container colr nclx atom (primaries 1, transfer 1, matrix 1, limited)" \
  "1 1 1 0" "$(colr_atom hd.mp4)"

render_json sd_out '{ "version": 1, "tracks": [ { "clips": [ { "type": "video", "src": "sd.mp4", "out": 1 } ] } ],
  "output": { "width": 640, "height": 480, "fps": 25, "preset": "ultrafast", "crf": 12, "color": "bt601" } }'
expect_eq "sd output: stream (H.264 VUI) tags" "smpte170m smpte170m smpte170m tv" "$(vui_tags sd_out.mp4)"
expect_eq "sd output: container colr nclx atom (6, 6, 6, limited)" "6 6 6 0" "$(colr_atom sd_out.mp4)"

render_json full '{ "version": 1, "tracks": [ { "clips": [ { "type": "video", "src": "hd.mp4", "out": 1 } ] } ],
  "output": { '"$OUT"', "color_range": "full" } }'
expect_eq "full range: stream (H.264 VUI) tags" "bt709 bt709 bt709 pc" "$(vui_tags full.mp4)"
expect_eq "full range: container colr nclx atom (full range flag set)" "1 1 1 1" "$(colr_atom full.mp4)"

# --- colours survive: SD source converted into HD; mixed SD + HD sources -----------------
# bars of smptebars (75 % colours): centres at x = 45 + 91.4 * k in a 640 wide
# picture; stretched to 1280x720: x doubles, y * 1.5.
render_json mixed '{ "version": 1, "tracks": [ { "clips": [
  { "type": "video", "src": "sd.mp4", "out": 1, "fit": "stretch" },
  { "type": "video", "src": "hd.mp4", "out": 1 },
  { "type": "video", "src": "sd.mp4", "out": 1, "fit": "stretch" } ] } ],
  "output": { '"$OUT"' } }'
expect_eq "mixed: output tagged BT.709" "bt709 bt709 bt709 tv" "$(vui_tags mixed.mp4)"
names=(grey yellow cyan green magenta red blue)
known=("191 191 191" "191 191 0" "0 191 191" "0 191 0" "191 0 191" "191 0 0" "0 0 191")
for k in 1 2 3 4 5 6; do
  sx=$(awk -v k="$k" 'BEGIN { printf "%d", 45 + 91.4 * k - 4 }')
  src=$(pixel_at sd.mp4 0.5 "$sx" 96 8)
  out=$(pixel_at mixed.mp4 0.5 $((sx * 2)) 144 8)
  check "SD ${names[$k]} bar ($src) converted into the HD output ($out), within 6 levels" rgb_near "$out" "$src" 6
  check "SD ${names[$k]} bar in the HD output ($out) is the 75 % colour (${known[$k]}) within 8 levels" \
    rgb_near "$out" "${known[$k]}" 8
  out=$(pixel_at mixed.mp4 2.5 $((sx * 2)) 144 8)
  check "SD ${names[$k]} bar again after the HD clip ($out), within 6 levels" rgb_near "$out" "$src" 6
  hx=$(awk -v k="$k" 'BEGIN { printf "%d", 91 + 182.9 * k - 4 }')
  src=$(pixel_at hd.mp4 0.5 "$hx" 144 8)
  out=$(pixel_at mixed.mp4 1.5 "$hx" 144 8)
  check "HD ${names[$k]} bar ($src) unchanged next to SD clips ($out), within 6 levels" rgb_near "$out" "$src" 6
done

# the same SD source into an SD output keeps its colours too (no double conversion)
for k in 1 5; do
  sx=$(awk -v k="$k" 'BEGIN { printf "%d", 45 + 91.4 * k - 4 }')
  src=$(pixel_at sd.mp4 0.5 "$sx" 96 8)
  out=$(pixel_at sd_out.mp4 0.5 "$sx" 96 8)
  check "SD ${names[$k]} bar in an SD output ($out vs $src), within 6 levels" rgb_near "$out" "$src" 6
done

t_done
