#!/usr/bin/env bash
# compose_aliyun.sh: Aliyun cloud-editing Timelines (docs/aliyun-timeline.md)
# rendered by vodq-compose and checked on the OUTPUT: durations by Aliyun's
# timing rules (back-to-back clips, Speed, gaps, TimelineOut cut and hold,
# transition overlap), frame-exact trims (numbered frames), picture-in-picture
# and split-screen positions by sampled pixels, Flip/Crop/Rotate/Background,
# text and ASS subtitles present (against renders without them), Volume,
# AFade and EffectTracks volume by measured loudness, MediaId maps, refusals
# before any media is read, and lenient drops listed in the result.
set -euo pipefail
. "${VODQ_TESTS:-$(cd "$(dirname "$0")/.." && pwd)}/compose_lib.sh"
compose_require
cd "$T_DIR"

FRAME=0.04
CFG='{"Width":320,"Height":240,"Video":{"Fps":25,"Preset":"ultrafast","Crf":18}}'
echo "$CFG" >cfg.json

gen_numbered num.mp4 3
gen_solid red.mp4 0xFF0000 3
gen_solid blue.mp4 0x0000FF 3
gen_solid grey.mp4 0x808080 3 320 240 25 440 -20
# left half red, right half blue (Flip / Crop tell apart)
gen_src halves.mp4 2 "color=c=blue:s=320x240:r=25,drawbox=x=0:y=0:w=160:h=240:color=red:t=fill"
gen_src wide.mp4 2 "color=c=blue:s=320x120:r=25"
gen_image yellow.png 160 120 0xFFFF00
gen_music tone.wav 4 660 -14

RED="255 0 0" BLUE="0 0 255" YELLOW="255 255 0" GREY="128 128 128" BLACK="0 0 0"

# arender NAME [args]: renders the Aliyun timeline NAME.json with cfg.json
arender() {
  local n=$1; shift
  if compose "$n" "$n.json" "$n.mp4" --output-config cfg.json "$@"; then ok "$n: renders"
  else not_ok "$n: renders"; fi
}

# --- timing: trims, Speed, gap, TimelineOut hold (spec 11.1) ----------------
# c0 num 0.4..1.2 (0.8 s, 20 frames: source frames 10..29); c1 num 0..2 at
# speed 2 (1 s, frames 20..44 show source 0, 2, 4...); c2 starts at 2.6 s:
# 0.8 s of black (frames 45..64), red 1 s (65..89); c3 0..0.4 s held to
# TimelineOut 4.4 (frames 90..99 source 0..9, 100..109 hold 9). 110 frames.
cat >timing.json <<'EOF'
{ "VideoTracks": [ { "VideoTrackClips": [
  { "MediaURL": "num.mp4", "In": "0.4", "Out": "1.2" },
  { "MediaUrl": "num.mp4", "Out": 2, "Speed": "2" },
  { "MediaURL": "red.mp4", "Out": 1, "TimelineIn": 2.6 },
  { "MediaURL": "num.mp4", "Out": 0.4, "TimelineOut": 4.4 } ] } ] }
EOF
arender timing
expect_eq "timing: 110 frames (4.4 s by Aliyun's rules)" 110 "$(probe_frames timing.mp4)"
expect_near "timing: audio lasts 4.4 s" 4.4 "$(probe_end timing.mp4 a)" $FRAME
mapfile -t L < <(frame_lumas timing.mp4)
expect_eq "timing: frame 0 is source frame 10 (In 0.4)" 10 "$(frame_number_of "${L[0]:-0}")"
expect_eq "timing: frame 19 is source frame 29 (Out 1.2)" 29 "$(frame_number_of "${L[19]:-0}")"
expect_eq "timing: frame 21 is source frame 2 (Speed 2)" 2 "$(frame_number_of "${L[21]:-0}")"
expect_rgb "timing: the gap before TimelineIn 2.6 is black" "$BLACK" "$(frame_pixel timing.mp4 55 100 100)" 12
expect_rgb "timing: the red clip starts at 2.6 s" "$RED" "$(frame_pixel timing.mp4 65 100 100)" 24
expect_eq "timing: frame 99 is source frame 9" 9 "$(frame_number_of "${L[99]:-0}")"
expect_eq "timing: TimelineOut past the source holds the last frame" 9 "$(frame_number_of "${L[109]:-0}")"

# --- transition: overlap shortens the track (spec 11.6) --------------------
cat >trans.json <<'EOF'
{ "VideoTracks": [ { "VideoTrackClips": [
  { "MediaURL": "red.mp4", "Out": 2, "Effects": [ { "Type": "Transition", "SubType": "wipeleft", "Duration": 0.4 } ] },
  { "MediaURL": "blue.mp4", "Out": 2, "Effects": [ { "Type": "Transition", "SubType": "fade" } ] } ] } ] }
EOF
arender trans
expect_eq "transition: 2 + 2 - 0.4 s = 90 frames (last clip's transition ignored)" 90 "$(probe_frames trans.mp4)"
l=$(frame_pixel trans.mp4 45 20 100); r=$(frame_pixel trans.mp4 45 290 100)
if rgb_near "$l" "$RED" 30 && rgb_near "$r" "$BLUE" 30; then ok "transition: wipeleft mid-way, red left ($l), blue right ($r)"
else not_ok "transition: wipeleft mid-way (left '$l', right '$r')"; fi

# --- picture in picture: fractions and pixels (spec 3.1) -------------------
cat >pip.json <<'EOF'
{ "VideoTracks": [
  { "VideoTrackClips": [ { "MediaURL": "grey.mp4", "Out": 2 } ] },
  { "VideoTrackClips": [ { "MediaURL": "yellow.png", "Type": "Image", "X": 0.5, "Y": 0.5,
      "Width": 0.25, "Height": 0.25, "TimelineIn": 0.5, "Duration": 1 } ] },
  { "VideoTrackClips": [ { "MediaURL": "blue.mp4", "Out": 2, "X": 16, "Y": 16, "Width": 64, "Height": 48 } ] } ] }
EOF
arender pip
expect_eq "pip: 2 s" 50 "$(probe_frames pip.mp4)"
expect_rgb "pip: image box at (160..240, 120..180) at 1 s" "$YELLOW" "$(pixel_at pip.mp4 1.0 196 146)" 24
expect_rgb "pip: image not yet shown at 0.2 s" "$GREY" "$(pixel_at pip.mp4 0.2 196 146)" 16
expect_rgb "pip: image gone at 1.8 s (TimelineIn 0.5 + Duration 1)" "$GREY" "$(pixel_at pip.mp4 1.8 196 146)" 16
expect_rgb "pip: just left of the image box stays grey" "$GREY" "$(pixel_at pip.mp4 1.0 150 146)" 16
expect_rgb "pip: pixel box (16..80, 16..64) is blue" "$BLUE" "$(pixel_at pip.mp4 1.0 44 36)" 24
expect_rgb "pip: right of the pixel box is grey" "$GREY" "$(pixel_at pip.mp4 1.0 86 36)" 16

# --- split screen: boxed bottom track over a black canvas; AdaptMode -------
cat >split.json <<'EOF'
{ "VideoTracks": [
  { "VideoTrackClips": [ { "MediaURL": "red.mp4", "Out": 2, "X": 0, "Y": 0, "Width": 0.5, "Height": 1 } ] },
  { "VideoTrackClips": [ { "MediaURL": "wide.mp4", "Out": 2, "X": 0.5, "Y": 0, "Width": 0.5, "Height": 1, "AdaptMode": "Contain" } ] } ] }
EOF
arender split
expect_rgb "split: left half red" "$RED" "$(pixel_at split.mp4 1.0 80 120)" 24
expect_rgb "split: right half, contained 320x120 -> 160x60, blue in the middle" "$BLUE" "$(pixel_at split.mp4 1.0 240 120)" 24
expect_rgb "split: right half above the contained picture is the black canvas" "$BLACK" "$(pixel_at split.mp4 1.0 240 40)" 12

# --- Flip, Crop, Rotate, Background Color, FreezeFrame --------------------
cat >geom.json <<'EOF'
{ "VideoTracks": [ { "VideoTrackClips": [
  { "MediaURL": "halves.mp4", "Out": 0.4, "Effects": [ { "Type": "Flip", "Direction": "horizontal" } ] },
  { "MediaURL": "halves.mp4", "Out": 0.4, "Effects": [ { "Type": "Crop", "X": 0.5, "Y": 0, "Width": 0.5, "Height": 1 } ] },
  { "MediaURL": "halves.mp4", "Out": 0.4, "Effects": [ { "Type": "Rotate", "Degree": 90 },
      { "Type": "Background", "SubType": "Color", "Color": "#FFFF00" } ] },
  { "MediaURL": "halves.mp4", "Out": 0.4, "Effects": [ { "Type": "FreezeFrame", "Duration": 0.4 } ] } ] } ] }
EOF
arender geom
expect_eq "geom: 0.4 * 4 + 0.4 s freeze = 50 frames" 50 "$(probe_frames geom.mp4)"
expect_rgb "flip: the left half is blue" "$BLUE" "$(frame_pixel geom.mp4 5 40 120)" 24
# the right half (160x240) contained: 180x240 at x = 70, all blue
expect_rgb "crop: only the blue half is left (x 100 was red)" "$BLUE" "$(frame_pixel geom.mp4 15 100 120)" 24
expect_rgb "crop: the cropped picture keeps its aspect (pillarbox)" "$BLACK" "$(frame_pixel geom.mp4 15 20 120)" 12
# rotated 90° clockwise: 240x320, contained into 320x240 as 180x240 at x=70;
# the red (left) half is on top
expect_rgb "rotate: red on top" "$RED" "$(frame_pixel geom.mp4 25 160 40)" 24
expect_rgb "rotate: blue below" "$BLUE" "$(frame_pixel geom.mp4 25 160 200)" 24
expect_rgb "background Color fills the pillarbox" "$YELLOW" "$(frame_pixel geom.mp4 25 20 120)" 24

# --- subtitles: Text clips and an ASS file, against renders without them ----
cat >plain.json <<'EOF'
{ "VideoTracks": [ { "VideoTrackClips": [ { "MediaURL": "grey.mp4", "Out": 2 } ] } ] }
EOF
cat >subs.json <<'EOF'
{ "VideoTracks": [ { "VideoTrackClips": [ { "MediaURL": "grey.mp4", "Out": 2 } ] } ],
  "SubtitleTracks": [ { "SubtitleTrackClips": [
    { "Type": "Text", "Content": "HELLO 字幕", "X": 0.5, "Y": 0.9, "Alignment": "BottomCenter",
      "Font": "Microsoft YaHei", "FontSize": 40, "FontColor": "#FFFFFF", "Outline": 2,
      "OutlineColour": "#000000", "TimelineIn": 0.5, "TimelineOut": 1.5 } ] } ] }
EOF
cat >subs.ass <<'EOF'
[Script Info]
ScriptType: v4.00+
PlayResX: 320
PlayResY: 240

[V4+ Styles]
Format: Name, Fontname, Fontsize, PrimaryColour, SecondaryColour, OutlineColour, BackColour, Bold, Italic, Underline, StrikeOut, ScaleX, ScaleY, Spacing, Angle, BorderStyle, Outline, Shadow, Alignment, MarginL, MarginR, MarginV, Encoding
Style: Default,DejaVu Sans,48,&H00FFFFFF,&H00FFFFFF,&H00000000,&H00000000,0,0,0,0,100,100,0,0,1,2,0,8,10,10,10,1

[Events]
Format: Layer, Start, End, Style, Name, MarginL, MarginR, MarginV, Effect, Text
Dialogue: 0,0:00:00.00,0:00:00.50,Default,,0,0,0,,WWWW
EOF
cat >ass.json <<'EOF'
{ "VideoTracks": [ { "VideoTrackClips": [ { "MediaURL": "grey.mp4", "Out": 2 } ] } ],
  "SubtitleTracks": [ { "SubtitleTrackClips": [ { "Type": "Subtitle", "FileURL": "subs.ass", "TimelineIn": 1 } ] } ] }
EOF
arender plain
arender subs
arender ass
p=$(region_luma plain.mp4 1.0 40 160 240 60); s=$(region_luma subs.mp4 1.0 40 160 240 60)
if [ -n "$s" ] && num_ge "${s#* }" 220 && num_lt "${p#* }" 140; then ok "subtitle Text drawn at the bottom centre at 1 s (max luma ${s#* } vs ${p#* } without)"
else not_ok "subtitle Text at the bottom centre (with '$s', without '$p')"; fi
s2=$(region_luma subs.mp4 1.8 40 160 240 60)
if [ -n "$s2" ] && num_lt "${s2#* }" 140; then ok "subtitle Text gone after TimelineOut 1.5 (${s2#* })"
else not_ok "subtitle Text gone after TimelineOut (got '$s2')"; fi
a1=$(region_luma ass.mp4 1.2 40 0 240 80); a0=$(region_luma ass.mp4 0.4 40 0 240 80)
if [ -n "$a1" ] && num_ge "${a1#* }" 220 && [ -n "$a0" ] && num_lt "${a0#* }" 140; then
  ok "ASS subtitle drawn at the top from TimelineIn 1 s (max ${a1#* }; before: ${a0#* })"
else not_ok "ASS subtitle at the top after 1 s (at 1.2 s '$a1', at 0.4 s '$a0')"; fi

# --- sound: Volume, AFade, EffectTracks volume, audio tracks --------------
cat >vol.json <<'EOF'
{ "VideoTracks": [ { "VideoTrackClips": [
  { "MediaURL": "grey.mp4", "Out": 1 },
  { "MediaURL": "grey.mp4", "Out": 1, "Effects": [ { "Type": "Volume", "Gain": "0.25" } ] },
  { "MediaURL": "grey.mp4", "Out": 2, "Effects": [ { "Type": "Volume", "Gain": 0, "In": 0.5, "Out": 2 } ] } ] } ],
  "AudioTracks": [ { "AudioTrackClips": [ { "MediaURL": "tone.wav", "TimelineIn": 3, "Out": 1,
      "Effects": [ { "Type": "AFade", "SubType": "In", "Duration": 1 } ] } ] } ] }
EOF
arender vol
v0=$(mean_volume vol.mp4 0.2 0.6); v1=$(mean_volume vol.mp4 1.2 0.6)
d=$(awk -v a="$v0" -v b="$v1" 'BEGIN { if (a != "" && b != "") printf "%.1f", a - b }')
expect_near "Volume Gain 0.25 is 12 dB quieter" 12 "$d" 1
m=$(mean_volume vol.mp4 2.55 0.4)
if [ -n "$m" ] && num_lt "$m" -60; then ok "Volume Gain 0 over In 0.5..Out 2 of the clip silences 2.5..4 s ($m dB)"
else not_ok "Volume span silence (got '$m')"; fi
f0=$(mean_volume vol.mp4 3.0 0.2); f1=$(mean_volume vol.mp4 3.75 0.2)
if [ -n "$f0" ] && [ -n "$f1" ] && num_ge "$(awk -v a="$f1" -v b="$f0" 'BEGIN { print a - b }')" 8; then
  ok "AFade In: the audio clip rises ($f0 dB at its start, $f1 dB at 0.75 s)"
else not_ok "AFade In (start '$f0', 0.75 s '$f1')"; fi

cat >efx.json <<'EOF'
{ "VideoTracks": [ { "VideoTrackClips": [ { "MediaURL": "grey.mp4", "Out": 2 } ] } ],
  "EffectTracks": [ { "EffectTrackItems": [ { "Type": "Volume", "Gain": 0, "TimelineIn": 1, "TimelineOut": 1.5 } ] } ] }
EOF
arender efx
m1=$(mean_volume efx.mp4 1.05 0.4); m0=$(mean_volume efx.mp4 0.3 0.4)
if [ -n "$m1" ] && num_lt "$m1" -60 && [ -n "$m0" ] && num_ge "$m0" -50; then ok "EffectTracks Volume 0 mutes 1..1.5 s ($m1 dB; before $m0 dB)"
else not_ok "EffectTracks mute interval (in '$m1', before '$m0')"; fi

# --- MediaId through a map; refusals; lenient ----------------------------
echo '{"vid-0001": "red.mp4"}' >map.json
cat >mid.json <<'EOF'
{ "VideoTracks": [ { "VideoTrackClips": [ { "MediaId": "vid-0001", "Out": 1 } ] } ] }
EOF
arender mid --media-map map.json
expect_rgb "MediaId resolved through --media-map" "$RED" "$(pixel_at mid.mp4 0.5 100 100)" 24
cp mid.json mid2.json
expect_rejected "an unmapped MediaId" mid2 "VideoTracks[0].VideoTrackClips[0].MediaId: \"vid-0001\" has no mapping"

cat >vfx.json <<'EOF'
{ "VideoTracks": [ { "VideoTrackClips": [
  { "MediaURL": "red.mp4", "Out": 1 },
  { "MediaURL": "nothere.mp4", "Out": 1, "Effects": [ { "Type": "Volume", "Gain": 1 }, { "Type": "VFX", "SubType": "heartbeat" } ] } ] } ] }
EOF
# the refusal comes before any media is read: nothere.mp4 is never opened
expect_rejected "a VFX preset" vfx 'VideoTracks[0].VideoTrackClips[1].Effects[1]: VFX "heartbeat" is an Aliyun cloud asset'
sed -i 's/nothere.mp4/blue.mp4/' vfx.json
rc=0; run_compose vfx.json vfx.mp4 --output-config cfg.json --lenient --json >vfx.out 2>vfx.err || rc=$?
if [ "$rc" = 0 ] && grep -q 'heartbeat' vfx.out && python3 -c '
import json, sys
r = json.load(open("vfx.out"))
sys.exit(0 if any("VFX \"heartbeat\"" in d for d in r["dropped"]) else 1)'; then
  ok "--lenient renders and lists the dropped VFX in the result"
else not_ok "--lenient (exit $rc, $(head -c 300 vfx.out))"; fi
expect_eq "lenient: 2 s rendered" 50 "$(probe_frames vfx.mp4)"

# --- a URL clip without Out: the source is fetched at import and its duration used
# (num.mp4 served over HTTP: 3 s; In 0.4 leaves 2.6 s, so the red clip after it
# starts at 2.6 s by Aliyun's back-to-back rule)
mkdir -p www && cp num.mp4 www/
HP=$(free_port)
/usr/bin/python3 "$VODQ_TESTS/http_source.py" "$T_DIR/www" "$HP" "$T_DIR/req.log" >http.log 2>&1 &
T_PIDS+=("$!")
wait_for 10 curl -sf -o /dev/null -I "http://127.0.0.1:$HP/num.mp4" || not_ok "url: the HTTP server starts"
cat >url.json <<EOF
{ "VideoTracks": [ { "VideoTrackClips": [
  { "MediaURL": "http://127.0.0.1:$HP/num.mp4?sig=x", "In": 0.4 },
  { "MediaURL": "red.mp4", "Out": 1 } ] } ] }
EOF
arender url --cache-dir "$T_DIR/cache"
expect_eq "url: 90 frames (2.6 s of the URL clip without Out, then 1 s)" 90 "$(probe_frames url.mp4)"
mapfile -t L < <(frame_lumas url.mp4)
expect_eq "url: frame 0 is source frame 10 (In 0.4)" 10 "$(frame_number_of "${L[0]:-0}")"
expect_eq "url: frame 64 is source frame 74 (mod 70: 4), the source's last" 4 "$(frame_number_of "${L[64]:-0}")"
expect_rgb "url: the red clip starts at 2.6 s" "$RED" "$(frame_pixel url.mp4 65 100 100)" 24
expect_eq "url: fetched once (one GET at import; the render reuses the cache)" 1 \
  "$(grep -c '^GET /num.mp4' req.log || true)"
run_compose --print-timeline url.json --output-config cfg.json --cache-dir "$T_DIR/cache" >url_pt.out 2>url_pt.err || true
if python3 -c '
import json, sys
t = json.load(open("url_pt.out"))
t = t.get("timeline", t)
c = t["tracks"][0]["clips"]
sys.exit(0 if len(c) == 2 and c[0]["src"].startswith("http://") and "out" not in c[0] else 1)'; then
  ok "url: --print-timeline imports the URL clip without Out"
else not_ok "url: --print-timeline ($(head -c 300 url_pt.out) $(head -c 200 url_pt.err))"; fi

# --print-timeline shows the vodq timeline
run_compose --print-timeline timing.json --output-config cfg.json >pt.out 2>pt.err || true
if python3 -c '
import json, sys
t = json.load(open("pt.out"))["timeline"]
c = t["tracks"][0]["clips"]
sys.exit(0 if [x["type"] for x in c] == ["video", "video", "color", "video", "video"] and c[4]["freeze"] > 0.39 else 1)'; then
  ok "--print-timeline shows the imported vodq timeline (gap as a color clip, hold as freeze)"
else not_ok "--print-timeline ($(head -c 300 pt.out) $(head -c 200 pt.err))"; fi

t_done
