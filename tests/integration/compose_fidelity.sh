#!/usr/bin/env bash
# compose_fidelity.sh (issue 6 item 1): vodq-compose renders what the ffmpeg
# command line renders for the same timeline. Each case is rendered by
# vodq-compose and by two ffmpeg commands with the same encoder settings
# (libx264, preset veryfast, crf 12, gop 50): one whose -filter_complex is
# written here by hand from the timeline's documented meaning
# (docs/timeline.md: frame-exact trims, fit sizes, xfade offsets, drawtext and
# overlay positions), an independent reading of the format; and the command
# line of the timeline's own render plan (vodq-compose --print-ffmpeg-args),
# which isolates the engine from the plan. They are decoded and compared
# frame by frame with ffmpeg's ssim and psnr filters: the same frame count,
# SSIM >= 0.98 and PSNR >= 40 dB on EVERY frame. Cases: concatenation with trims, each fit mode
# (and a portrait source), transitions, captions, a watermark and a timed
# sticker, speed changes. A control shows the comparison catches a picture
# that is one frame late. The figures are printed ("# figures ...").
set -euo pipefail
. "${VODQ_TESTS:-$(cd "$(dirname "$0")/.." && pwd)}/compose_lib.sh"
compose_require
cd "$T_DIR"

FONT=/usr/share/fonts/truetype/wqy/wqy-microhei.ttc
[ -f "$FONT" ] || FONT=/usr/share/fonts/truetype/dejavu/DejaVuSans.ttf

# Sources are BT.709 tagged (gen_src) like the output, so no matrix
# conversion is involved; testsrc2 pictures move every frame, so a wrong
# frame is visible.
gen_src a.mp4 4 "testsrc2=s=320x240:r=25" 440 -20
gen_src b.mp4 4 "testsrc=s=320x240:r=25" 660 -20
gen_src wide.mp4 2 "testsrc2=s=480x200:r=25" 550 -20
gen_src tall.mp4 2 "testsrc2=s=180x320:r=25" 770 -20
_gen -f lavfi -i "testsrc2=s=64x48" -frames:v 1 -vf "format=rgba,colorchannelmixer=aa=0.7" logo.png

OUTPUT='"output": { "width": 320, "height": 240, "fps": 25, "preset": "veryfast", "crf": 12, "gop": 50 }'
ENC=(-c:v libx264 -preset veryfast -crf 12 -g 50 -pix_fmt yuv420p
  -color_primaries bt709 -color_trc bt709 -colorspace bt709 -color_range tv
  -c:a aac -b:a 128k -ar 48000 -ac 2)
# the per-clip audio chain of the reference: trimmed, 48 kHz stereo
AF="aresample=48000,aformat=sample_fmts=fltp:sample_rates=48000:channel_layouts=stereo"

# compare NAME FILE REF WHAT: same frame count, SSIM >= 0.98 and PSNR >= 40 dB
# on every frame of FILE against REF; prints the figures
compare() {
  local name=$1 f=$2 ref=$3 what=$4 r nf nr ssim psnr
  nf=$(probe_frames "$f") nr=$(probe_frames "$ref")
  expect_eq "$name: same frame count as $what" "$nr" "$nf"
  r=$(ssim_psnr "$f" "$ref")
  echo "# figures $name vs $what: $r"
  ssim=$(echo "$r" | awk '{ print $4 }') psnr=$(echo "$r" | awk '{ print $6 }')
  check "$name vs $what: SSIM >= 0.98 on every frame (min $ssim)" num_ge "$ssim" 0.98
  check "$name vs $what: PSNR >= 40 dB on every frame (min $psnr)" num_ge "$psnr" 40
}

# fidelity NAME TIMELINE-BODY FFMPEG-INPUTS-AND-GRAPH...: renders NAME.json
# with vodq-compose (NAME.mp4), with the hand-written reference command
# (NAME.ref.mp4; its graph labels its outputs [v] and [a]) and with the
# command line of the timeline's own render plan (NAME.plan.mp4, from
# vodq-compose --print-ffmpeg-args), then compares NAME.mp4 with both
fidelity() {
  local name=$1 body=$2 plan=()
  shift 2
  printf '{ "version": 1, %s, %s }\n' "$body" "$OUTPUT" >"$name.json"
  if ! compose "$name" "$name.json" "$name.mp4"; then
    not_ok "$name: vodq-compose renders the timeline"
    return
  fi
  if "${FF[@]}" "$@" -map '[v]' -map '[a]' "${ENC[@]}" "$name.ref.mp4" 2>"$T_DIR/$name.ref.log"; then
    compare "$name" "$name.mp4" "$name.ref.mp4" "the hand-written ffmpeg graph"
  else
    not_ok "$name: the hand-written ffmpeg command fails: $(tail -n 3 "$T_DIR/$name.ref.log" | tr '\n' ' ')"
  fi
  mapfile -d '' plan < <(plan_argv "$name.json" "$name.plan.mp4")
  if [ "${#plan[@]}" -gt 10 ] &&
     "${plan[0]}" -loglevel error "${plan[@]:1}" 2>"$T_DIR/$name.plan.log"; then
    compare "$name" "$name.mp4" "$name.plan.mp4" "ffmpeg with the plan's graph"
  else
    not_ok "$name: ffmpeg with the plan's own graph (--print-ffmpeg-args) fails: $(tail -n 3 "$T_DIR/$name.plan.log" 2>/dev/null | tr '\n' ' ')"
  fi
}

# --- concatenation with trims ---------------------------------------------------------
# a 0.52..2.52 = frames 13..62, b 1.0..2.0 = frames 25..49, a 0..0.8 = frames 0..19
fidelity concat '"tracks": [ { "clips": [
  { "type": "video", "src": "a.mp4", "in": 0.52, "out": 2.52 },
  { "type": "video", "src": "b.mp4", "in": 1.0, "out": 2.0 },
  { "type": "video", "src": "a.mp4", "in": 0, "out": 0.8 } ] } ]' \
  -i a.mp4 -i b.mp4 -i a.mp4 -filter_complex "
  [0:v]trim=start_frame=13:end_frame=63,setpts=PTS-STARTPTS[v0];
  [1:v]trim=start_frame=25:end_frame=50,setpts=PTS-STARTPTS[v1];
  [2:v]trim=end_frame=20,setpts=PTS-STARTPTS[v2];
  [0:a]atrim=0.52:2.52,asetpts=PTS-STARTPTS,$AF[a0];
  [1:a]atrim=1:2,asetpts=PTS-STARTPTS,$AF[a1];
  [2:a]atrim=0:0.8,asetpts=PTS-STARTPTS,$AF[a2];
  [v0][a0][v1][a1][v2][a2]concat=n=3:v=1:a=1[v][a]"

# control: the same comparison on a picture one frame late must fail both limits
"${FF[@]}" -i concat.ref.mp4 -vf "trim=start_frame=1,setpts=PTS-STARTPTS" -an "${ENC[@]}" late.mp4 2>>"$T_DIR/gen.log" || true
r=$(ssim_psnr late.mp4 concat.ref.mp4)
echo "# figures control (one frame late): $r"
check "control: a picture one frame late is caught (PSNR under 40 dB: $r)" \
  num_lt "$(echo "$r" | awk '{ print $6 }')" 40

# --- fit modes ----------------------------------------------------------------------
# wide 480x200 into 320x240: contain 320x134 at y 53 (134 = even(133.3));
# cover 576x240 cropped at x 128; blur = contain over the cover copy blurred
# with boxblur radius 240/40 = 6; stretch 320x240. tall 180x320: contain
# 136x240 (even(135)) at x 92.
# A coloured letterbox is padded in RGB and converted back with the BT.709
# matrix: FFmpeg 5.1's pad converts its colour with BT.601 only (docs/timeline.md).
RGBPAD="scale=in_color_matrix=bt709:in_range=tv,format=gbrp,pad"
YUV="scale=out_color_matrix=bt709:out_range=tv,format=yuv420p"
fidelity fit '"tracks": [ { "clips": [
  { "type": "video", "src": "wide.mp4", "out": 1, "fit": "contain", "background": "#202040" },
  { "type": "video", "src": "wide.mp4", "out": 1, "fit": "cover" },
  { "type": "video", "src": "wide.mp4", "out": 1, "fit": "blur" },
  { "type": "video", "src": "wide.mp4", "out": 1, "fit": "stretch" },
  { "type": "video", "src": "tall.mp4", "out": 1, "fit": "contain", "background": "#402020" } ] } ]' \
  -i wide.mp4 -i wide.mp4 -i wide.mp4 -i wide.mp4 -i tall.mp4 -filter_complex "
  [0:v]trim=end_frame=25,scale=320:134,$RGBPAD=320:240:0:53:color=0x202040,$YUV,setsar=1[v0];
  [1:v]trim=end_frame=25,scale=576:240,crop=320:240:128:0,setsar=1[v1];
  [2:v]trim=end_frame=25,split[bg][fg];
  [bg]scale=576:240,crop=320:240:128:0,boxblur=6:1[bb];[fg]scale=320:134[fs];
  [bb][fs]overlay=0:53:format=yuv420,format=yuv420p,setsar=1[v2];
  [3:v]trim=end_frame=25,scale=320:240,setsar=1[v3];
  [4:v]trim=end_frame=25,scale=136:240,$RGBPAD=320:240:92:0:color=0x402020,$YUV,setsar=1[v4];
  [0:a]atrim=0:1,$AF[a0];[1:a]atrim=0:1,$AF[a1];[2:a]atrim=0:1,$AF[a2];
  [3:a]atrim=0:1,$AF[a3];[4:a]atrim=0:1,$AF[a4];
  [v0][a0][v1][a1][v2][a2][v3][a3][v4][a4]concat=n=5:v=1:a=1[v][a]"

# --- transitions ----------------------------------------------------------------------
# a 2 s -(fade 0.6 s = 15 frames)- b 2 s -(circleopen 0.4 s = 10 frames)- a 2..3 s:
# 50 + 50 + 25 - 25 = 100 frames. Only the overlapping frames go through
# xfade: FFmpeg 5.1's xfade has no yuv420p, so frames passing through it are
# converted to yuv444p and back, which would blur the chroma of whole clips.
fidelity transition '"tracks": [ { "clips": [
  { "type": "video", "src": "a.mp4", "out": 2, "transition": { "type": "fade", "duration": 0.6 } },
  { "type": "video", "src": "b.mp4", "out": 2, "transition": { "type": "circleopen", "duration": 0.4 } },
  { "type": "video", "src": "a.mp4", "in": 2, "out": 3 } ] } ]' \
  -i a.mp4 -i b.mp4 -i a.mp4 -filter_complex "
  [0:v]trim=end_frame=50,setpts=PTS-STARTPTS,split[p0][p1];
  [p0]trim=end_frame=35[m0];[p1]trim=start_frame=35,setpts=PTS-STARTPTS[t0];
  [1:v]trim=end_frame=50,setpts=PTS-STARTPTS,split=3[b0][b1][b2];
  [b0]trim=end_frame=15[h1];[b1]trim=start_frame=15:end_frame=40,setpts=PTS-STARTPTS[m1];
  [b2]trim=start_frame=40,setpts=PTS-STARTPTS[t1];
  [2:v]trim=start_frame=50:end_frame=75,setpts=PTS-STARTPTS,split[c0][c1];
  [c0]trim=end_frame=10[h2];[c1]trim=start_frame=10,setpts=PTS-STARTPTS[m2];
  [t0][h1]xfade=transition=fade:duration=0.6:offset=0,format=yuv420p[x0];
  [t1][h2]xfade=transition=circleopen:duration=0.4:offset=0,format=yuv420p[x1];
  [m0][x0][m1][x1][m2]concat=n=5:v=1:a=0[v];
  [0:a]atrim=0:2,$AF[a0];[1:a]atrim=0:2,$AF[a1];[2:a]atrim=2:3,asetpts=PTS-STARTPTS,$AF[a2];
  [a0][a1]acrossfade=d=0.6:c1=tri:c2=tri[ax];[ax][a2]acrossfade=d=0.4:c1=tri:c2=tri[a]"

# --- captions --------------------------------------------------------------------------
printf '%s' 'Fidelity 你好 [1:2]' >cap1.txt
printf '%s' '右上角 box' >cap2.txt
fidelity caption '"tracks": [ { "clips": [ { "type": "video", "src": "a.mp4", "out": 3 } ] } ],
  "captions": [
    { "text": "Fidelity 你好 [1:2]", "size": 30, "color": "#ffffff", "outline": 2, "outline_color": "#000000",
      "anchor": "bottom", "y": 20, "start": 0.5, "end": 2.5 },
    { "text": "右上角 box", "size": 20, "color": "#ffff00", "anchor": "top-right", "x": 8, "y": 8,
      "box": { "color": "#000000", "padding": 4 } } ]' \
  -i a.mp4 -filter_complex "
  [0:v]trim=end_frame=75,setpts=PTS-STARTPTS,
  drawtext=fontfile=$FONT:expansion=none:textfile=cap1.txt:fontsize=30:fontcolor=0xFFFFFFFF:borderw=2:bordercolor=0x000000FF:x=(w-text_w)/2+0:y=h-text_h-20:enable='between(t,0.5,2.5)',
  scale=in_color_matrix=bt709:in_range=tv,format=gbrp,
  drawtext=fontfile=$FONT:expansion=none:textfile=cap2.txt:fontsize=20:fontcolor=0xFFFF00FF:box=1:boxborderw=4:boxcolor=0x000000FF:x=w-text_w-12:y=12,
  scale=out_color_matrix=bt709:out_range=tv,format=yuv420p[v];
  [0:a]atrim=0:3,$AF[a]"

# --- watermark and a timed sticker ---------------------------------------------------------
# watermark: top-right, 10 px in, scale 0.2 (64 px wide), opacity 0.8, all along;
# sticker: centred, 40 px wide, from 1 s for 1 s. Both converted to YUV with
# the output's BT.709 matrix before the overlay (docs/timeline.md).
fidelity watermark '"tracks": [ { "clips": [ { "type": "video", "src": "b.mp4", "out": 3 } ] } ],
  "overlays": [
    { "type": "image", "src": "logo.png", "anchor": "top-right", "x": 10, "y": 10, "scale": 0.2, "opacity": 0.8 },
    { "type": "image", "src": "logo.png", "anchor": "center", "width": 40, "start": 1, "duration": 1 } ]' \
  -i b.mp4 -i logo.png -i logo.png -filter_complex "
  [1:v]format=rgba,colorchannelmixer=aa=0.8,scale=w=64:h=-2:out_color_matrix=bt709:out_range=tv,format=yuva420p[l1];
  [2:v]format=rgba,scale=w=40:h=-2:out_color_matrix=bt709:out_range=tv,format=yuva420p[l2];
  [0:v]trim=end_frame=75,setpts=PTS-STARTPTS[b];
  [b][l1]overlay=x=W-w-10:y=10:format=yuv420:eof_action=repeat[o1];
  [o1][l2]overlay=x=(W-w)/2:y=(H-h)/2:format=yuv420:eof_action=repeat:enable='between(t,1,2)'[v];
  [0:a]atrim=0:3,$AF[a]"

# --- speed changes -----------------------------------------------------------------------
# a 0..4 at speed 2 (50 frames: source frames 0, 2, 4...), b 1..2 at speed 0.5
# (50 frames: each source frame twice), a 1..2.2 at speed 1.5 (20 frames)
fidelity speed '"tracks": [ { "clips": [
  { "type": "video", "src": "a.mp4", "in": 0, "out": 4, "speed": 2 },
  { "type": "video", "src": "b.mp4", "in": 1, "out": 2, "speed": 0.5 },
  { "type": "video", "src": "a.mp4", "in": 1, "out": 2.2, "speed": 1.5 } ] } ]' \
  -i a.mp4 -i b.mp4 -i a.mp4 -filter_complex "
  [0:v]setpts=(PTS-STARTPTS)/2,fps=25,trim=end_frame=50[v0];
  [1:v]trim=start_frame=25:end_frame=50,setpts=(PTS-STARTPTS)/0.5,fps=25,tpad=stop_mode=clone:stop=-1,trim=end_frame=50[v1];
  [2:v]trim=start_frame=25:end_frame=55,setpts=(PTS-STARTPTS)/1.5,fps=25,trim=end_frame=20[v2];
  [0:a]atrim=0:4,atempo=2,$AF[a0];[1:a]atrim=1:2,asetpts=PTS-STARTPTS,atempo=0.5,$AF[a1];
  [2:a]atrim=1:2.2,asetpts=PTS-STARTPTS,atempo=1.5,$AF[a2];
  [v0][a0][v1][a1][v2][a2]concat=n=3:v=1:a=1[v][a]"

t_done
