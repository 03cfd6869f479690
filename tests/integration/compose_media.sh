#!/usr/bin/env bash
# compose_media.sh (issue 12): files as phones, cameras and other tools make
# them render right, or fail naming the file and what is wrong. Each case
# generates a small file that reproduces one real-world problem:
#  1. badly interleaved sound (>= 100 sound packets before the 2nd picture):
#     the render finishes (it used to hang);
#  2. JPEG stills with EXIF orientation 1..8 are shown upright;
#  3. a picture stream that starts 0.083 s after the sound keeps its delay
#     (A/V sync measured on the output);
#  4. a variable-frame-rate source starts on the source frame nearest "in"
#     and ends on the one nearest "out", on its own timestamps;
#  5. a trim is checked against the stream's real extent (a video stream
#     starting 1.04 s into an MPEG-TS file);
#  6. a WAV with embedded cover art used as a video clip is refused, naming
#     the file and the reason (and works as music);
#  7. AMR-NB in 3GP with several frames per packet keeps all its sound;
#  8. interlaced sources are deinterlaced; 5.1 is downmixed with normalised
#     coefficients (no clipping, as loud as the plain stereo version);
#  9. HDR (PQ / HLG, 10-bit HEVC, BT.2020) is tone-mapped to SDR BT.709;
# 10. HEIC stills (libheif) render upright by their irot/imir boxes, with
#     alpha as stickers; as a video clip they are refused.
set -euo pipefail
. "${VODQ_TESTS:-$(cd "$(dirname "$0")/.." && pwd)}/compose_lib.sh"
compose_require
command -v exiftool >/dev/null || { not_ok "exiftool not installed (libimage-exiftool-perl)"; exit 1; }
cd "$T_DIR"

OUT='"width": 160, "height": 120, "fps": 25, "preset": "ultrafast"'
# tl NAME CLIPS [EXTRA]: writes NAME.json with main-track clips CLIPS
tl() { printf '{ "version": 1, "tracks": [ { "clips": [ %s ] } ]%s, "output": { %s } }\n' \
  "$2" "${3:-}" "${OUT_OVERRIDE:-$OUT}" >"$1.json"; }

# --- 1. badly interleaved sound -----------------------------------------------------
# The first picture lasts 2.5 s, so the muxer puts ~118 AAC packets between
# the first and the second video packet (as in a thermal camera's MP4).
_gen -f lavfi -i "testsrc2=s=160x120:r=25:d=4" -f lavfi -i "sine=f=440:r=48000:d=5" \
  -vf "setpts='if(eq(N,0),0,2.5/TB+(N-1)/(25*TB))'" -fps_mode vfr \
  -c:v libx264 -preset ultrafast -c:a aac interleave_src.mp4
before=$(ffprobe -v error -show_entries packet=stream_index -of csv=p=0 interleave_src.mp4 |
  awk '$1 == 0 { v++; if (v == 2) { print a + 0; exit } } $1 == 1 { a++ }')
check "1: the file has >= 100 sound packets before its 2nd picture packet ($before)" num_ge "$before" 100
tl interleave '{ "type": "video", "src": "interleave_src.mp4", "out": 4 }'
start=$(date +%s)
if COMPOSE_TIMEOUT=40 compose interleave interleave.json interleave.mp4; then
  ok "1: badly interleaved file renders ($(( $(date +%s) - start )) s)"
else
  not_ok "1: badly interleaved file renders"
fi
expect_eq "1: all 100 frames written" 100 "$(probe_frames interleave.mp4)"
check "1: sound all the way (mean volume of 3.5..4 s: $(mean_volume interleave.mp4 3.5 0.5))" \
  num_ge "$(mean_volume interleave.mp4 3.5 0.5)" -40

# --- 2. EXIF orientation ------------------------------------------------------------
# quad.jpg, stored 80x40: top-left red, top-right green, bottom-left blue,
# bottom-right white. Each orientation gets one 0.2 s image clip, stretched
# to the 160x120 frame; the colour of each displayed quadrant is checked.
_gen -f lavfi -i "color=c=white:s=80x40,drawbox=x=0:y=0:w=40:h=20:c=red:t=fill,drawbox=x=40:y=0:w=40:h=20:c=lime:t=fill,drawbox=x=0:y=20:w=40:h=20:c=blue:t=fill" \
  -frames:v 1 -q:v 1 quad.jpg
clips=""
for o in 1 2 3 4 5 6 7 8; do
  cp quad.jpg "o$o.jpg"
  exiftool -q -overwrite_original "-Orientation#=$o" "o$o.jpg"
  clips+="${clips:+,} { \"type\": \"image\", \"src\": \"o$o.jpg\", \"duration\": 0.2, \"fit\": \"stretch\" }"
done
tl exif "$clips"
render exif
# quads VIDEO: the middle frame of each clip (5 frames each), shrunk to 2x2: one pixel
# per quadrant, named R(ed) G(reen) B(lue) W(hite), in the order TL TR BL BR; a line a clip.
quads() {
  "${FF[@]}" -i "$1" -vf "select='eq(mod(n\,5)\,2)',format=rgb24,scale=2:2:flags=area" \
    -fps_mode passthrough -f rawvideo - 2>>gen.log | od -An -tu1 -v -w12 |
    awk '{ s = ""; for (i = 1; i <= 12; i += 3) { r = $i > 128; g = $(i + 1) > 128; b = $(i + 2) > 128
           s = s ((r && g && b) ? "W" : (r ? "R" : (g ? "G" : (b ? "B" : "?")))) }; print s }' || true
}
# The quadrants of quad.jpg shown upright, per orientation 1-8 (EXIF and HEIC irot/imir).
UPRIGHT=(- RGBW GRWB WBGR BWRG RBGW BRWG WGBR GWRB)
quads exif.mp4 >exif.quads
for o in 1 2 3 4 5 6 7 8; do
  expect_eq "2: EXIF orientation $o shown upright (quadrants TL TR BL BR)" "${UPRIGHT[$o]}" \
    "$(sed -n "${o}p" exif.quads)"
done

# --- 3. a picture that starts after the sound keeps its delay -------------------------
# Video starts 0.08 s after the sound (Matroska keeps the offset as it is);
# its frame 25 is white (source time 1.08 s) and a 40 ms beep plays at the
# same time; the clips start at 0 and at 0.5 s (a seek). Without the delay
# the flash would come 80 ms before the beep.
_gen -itsoffset 0.08 -f lavfi -i "color=c=black:s=160x120:r=25:d=3,drawbox=c=white:t=fill:enable='eq(n,25)'" \
  -f lavfi -i "aevalsrc='if(between(t,1.08,1.12),0.5*sin(2*PI*1000*t),0)':s=48000:d=3.2" \
  -c:v libx264 -preset ultrafast -qp 0 -c:a pcm_s16le late.mkv
vst=$(probe_stream late.mkv v start_time) ast=$(probe_stream late.mkv a start_time)
check "3: the source's video starts 0.08 s after its sound ($vst, $ast)" num_near "$vst" 0.08 0.002
tl late '{ "type": "video", "src": "late.mkv", "out": 2 }, { "type": "video", "src": "late.mkv", "in": 0.5, "out": 2.5 }'
render late
frame_lumas late.mp4 | awk '$1 > 128 { printf "%.3f\n", (NR - 1) / 25 + 0.02 }' >late.flash
audio_bursts late.mp4 >late.beeps
expect_eq "3: two flashes and two beeps" "2 2" "$(wc -l <late.flash) $(wc -l <late.beeps)"
paste late.flash late.beeps | while read -r fl be; do
  check "3: flash at $fl s and beep at $be s within half a frame" num_near "$fl" "$be" 0.02
done

# --- 4. variable frame rate: in lands on the nearest source frame ---------------------
# A screen recording: a frame every 0.5 s while idle, a burst at 33 fps from
# 1.8 to 2.37 s, idle again (28 frames in 4 s: 7 fps on average). The luma
# says the frame number. A grid from the average rate would start "in 2.0"
# on the frame at 1.95 s and "in 1.23" on the one at 1.5 s.
_gen -f lavfi -i "color=c=black:s=160x120:r=7:d=4,format=yuv420p,geq=lum='16+3*mod(N,70)':cb=128:cr=128" \
  -vf "settb=1/1000,setpts='if(lt(N,4),N*0.5,if(lt(N,24),1.8+(N-4)*0.03,2.4+(N-24)*0.4))/TB'" \
  -fps_mode passthrough -enc_time_base:v 1:1000 -video_track_timescale 1000 \
  -c:v libx264 -preset ultrafast -qp 0 -an vfr.mp4
# nearest FILE IDX|T TIME: the index or the time of FILE's video frame nearest
# TIME on its own packet timestamps (the later one on a tie)
nearest() {
  ffprobe -v error -select_streams v -show_entries packet=pts_time -of csv=p=0 "$1" | sort -g |
    awk -v t="$3" -v w="$2" '{ d = $1 - t; if (d < 0) d = -d
        if (NR == 1 || d < best + 1e-9) { best = d; n = NR - 1; v = $1 } }
      END { if (w == "IDX") print n; else print v }'
}
# snapped_frames FILE IN OUT: output frames (25 fps) of a clip IN..OUT, both
# snapped to the nearest source frame
snapped_frames() {
  awk -v a="$(nearest "$1" T "$2")" -v b="$(nearest "$1" T "$3")" 'BEGIN { printf "%d", (b - a) * 25 + 0.5 }'
}
tl vfrcut '{ "type": "video", "src": "vfr.mp4", "in": 2.0, "out": 2.6 }, { "type": "video", "src": "vfr.mp4", "in": 1.23, "out": 1.83 }'
render vfrcut
frame_lumas vfrcut.mp4 >vfr.lumas
k=1 # output frame (1-based) where each clip starts
for io in "2.0 2.6" "1.23 1.83"; do
  read -r in out <<<"$io"
  want=$(nearest vfr.mp4 IDX "$in")
  got=$(frame_number_of "$(sed -n "${k}p" vfr.lumas)")
  expect_eq "4: in $in starts on source frame $want, the one nearest $in s on the file's timestamps" \
    "$want" "$got"
  k=$((k + $(snapped_frames vfr.mp4 "$in" "$out")))
done

# "out" lands on the source frame nearest it too: the clip shows exactly the
# source frames from nearest(in) up to (not including) nearest(out). A source
# whose frames lie on a 40 ms grid with gaps of 40, 80 and 120 ms (12.5 fps on
# average), so that every source frame gets its own 25 fps output slot.
_gen -f lavfi -i "color=c=black:s=160x120:r=25:d=2.4,format=yuv420p,geq=lum='16+3*mod(N,70)':cb=128:cr=128" \
  -vf "settb=1/1000,setpts='0.04*(6*floor(N/3)+if(eq(mod(N,3),0),0,if(eq(mod(N,3),1),1,3)))/TB'" \
  -fps_mode passthrough -enc_time_base:v 1:1000 -video_track_timescale 1000 \
  -c:v libx264 -preset ultrafast -qp 0 -an vfr2.mp4
# out 1.61: nearest frame 1.56 s; a span of out - in (1.10 s) would show it
tl vfrout '{ "type": "video", "src": "vfr2.mp4", "in": 0.51, "out": 1.61 }, { "type": "video", "src": "vfr2.mp4", "in": 0.3, "out": 1.63 }'
render vfrout
frame_lumas vfrout.mp4 | while read -r y; do frame_number_of "$y"; done >vfrout.nums
k=1
for io in "0.51 1.61" "0.3 1.63"; do
  read -r i o <<<"$io"
  fi=$(nearest vfr2.mp4 IDX "$i") fo=$(nearest vfr2.mp4 IDX "$o")
  n=$(snapped_frames vfr2.mp4 "$i" "$o")
  got=$(sed -n "${k},$((k + n - 1))p" vfrout.nums | uniq | tr '\n' ' ')
  want=$(seq "$fi" $((fo - 1)) | tr '\n' ' ')
  expect_eq "4: in $i out $o shows exactly source frames $fi..$((fo - 1)) (nearest in, up to nearest out) in $n frames" \
    "$want" "$got"
  k=$((k + n))
done
expect_eq "4: the render is as long as the two snapped spans" "$((k - 1))" "$(wc -l <vfrout.nums)"

# --- 5. trims against the real extent -------------------------------------------------
# MPEG-TS whose video starts 1.04 s after the sound: its video ends at 3.04 s
_gen -itsoffset 1.04 -f lavfi -i "color=c=black:s=160x120:r=25:d=2,format=yuv420p,geq=lum='16+3*mod(N,70)':cb=128:cr=128" \
  -f lavfi -i "sine=f=440:r=48000:d=3.04" -c:v libx264 -preset ultrafast -qp 0 -g 12 -c:a aac \
  -output_ts_offset 1.4 -f mpegts late.ts
# where the video starts in the file (1.04 s plus the AAC priming of the sound)
vs=$(awk -v v="$(probe_stream late.ts v start_time)" -v f="$(ffprobe -v error -show_entries format=start_time -of csv=p=0 late.ts)" \
  'BEGIN { printf "%.3f", v - f }')
check "5: the video starts 1.04 s (+ AAC priming) into the file ($vs s); its stream duration is 2 s" \
  num_near "$vs" 1.05 0.03
tl extent '{ "type": "video", "src": "late.ts", "in": 2.0, "out": 3.0 }'
render extent
expect_eq "5: trim 2.0..3.0, past the video stream's own duration: 25 frames" 25 "$(probe_frames extent.mp4)"
want=$(awk -v s="$vs" 'BEGIN { k = int((2.0 - s) * 25 + 0.5); print k + 24 }')
last=$(frame_number_of "$(frame_lumas extent.mp4 | tail -n 1)")
expect_eq "5: the last frame is source frame $want" "$want" "$last"
tl extent_bad '{ "type": "video", "src": "late.ts", "in": 2.0, "out": 3.5 }'
expect_rejected "5: out past the real end" extent_bad \
  "tracks[0].clips[0].out: 3.5 is past the end of the source ($(awk -v s="$vs" 'BEGIN { printf "%.3f", s + 2 }') s)"

# --- 6. cover art is not a video ------------------------------------------------------
_gen -f lavfi -i "sine=f=440:d=2" -f lavfi -i "color=red:s=64x64:d=0.04" \
  -map 0:a -map 1:v -c:v mjpeg -disposition:v attached_pic -id3v2_version 3 -c:a libmp3lame \
  -t 2 cover.mp3
_gen -f lavfi -i "sine=f=440:r=48000:d=2" -c:a pcm_s16le plain.wav
python3 - <<'EOF'
import struct
mp3 = open("cover.mp3", "rb").read()
size = mp3[6] << 21 | mp3[7] << 14 | mp3[8] << 7 | mp3[9]
tag = mp3[:10 + size]  # the ID3v2 tag with its APIC frame
wav = bytearray(open("plain.wav", "rb").read())
wav += b"id3 " + struct.pack("<I", len(tag)) + tag + (b"\0" if len(tag) % 2 else b"")
wav[4:8] = struct.pack("<I", len(wav) - 8)
open("cover.wav", "wb").write(wav)
EOF
pics=$(ffprobe -v error -show_entries stream_disposition=attached_pic -of csv=p=0 cover.wav | grep -c 1 || true)
expect_eq "6: cover.wav has an attached picture" 1 "$pics"
tl cover_video '{ "type": "video", "src": "cover.wav" }'
expect_rejected "6: WAV with cover art as a video clip" cover_video "cover.wav has no video: its only picture is a still cover image"
tl cover_music '{ "type": "image", "src": "quad.jpg", "duration": 1 }' ', "music": { "src": "cover.wav" }'
render cover_music
check "6: the same WAV works as music" num_ge "$(mean_volume cover_music.mp4 0.2 0.6)" -30

# --- 7. AMR-NB in 3GP, five frames per packet ---------------------------------------
# No AMR encoder in Debian's FFmpeg: 4 s of valid 12.2 kbit/s frames with
# random payload (loud noise when decoded), written as a 3GP whose samples
# each hold five frames, as phones write them.
python3 - <<'EOF'
import random, struct
def box(t, p): return struct.pack(">I", 8 + len(p)) + t + p
def full(t, v, f, p): return box(t, struct.pack(">I", v << 24 | f) + p)
random.seed(7)
per, nfr = 5, 200
data = b"".join(bytes([0x3C]) + bytes(random.getrandbits(8) for _ in range(31)) for _ in range(nfr))
ns, ms = nfr // per, nfr * 20
mtx = struct.pack(">9I", 0x10000, 0, 0, 0, 0x10000, 0, 0, 0, 0x40000000)
def moov(off):
    damr = box(b"damr", b"FFMP" + struct.pack(">BHBB", 0, 0x81FF, 0, per))
    samr = box(b"samr", b"\0" * 6 + struct.pack(">H", 1) + b"\0" * 8 +
               struct.pack(">HHHHI", 1, 16, 0, 0, 8000 << 16) + damr)
    stbl = box(b"stbl", full(b"stsd", 0, 0, struct.pack(">I", 1) + samr) +
               full(b"stts", 0, 0, struct.pack(">III", 1, ns, 160 * per)) +
               full(b"stsc", 0, 0, struct.pack(">IIII", 1, 1, ns, 1)) +
               full(b"stsz", 0, 0, struct.pack(">II", 32 * per, ns)) +
               full(b"stco", 0, 0, struct.pack(">II", 1, off)))
    minf = box(b"minf", full(b"smhd", 0, 0, b"\0" * 4) +
               box(b"dinf", full(b"dref", 0, 0, struct.pack(">I", 1) + full(b"url ", 0, 1, b""))) + stbl)
    mdia = box(b"mdia", full(b"mdhd", 0, 0, struct.pack(">IIIIHH", 0, 0, 8000, nfr * 160, 0x55C4, 0)) +
               full(b"hdlr", 0, 0, b"\0" * 4 + b"soun" + b"\0" * 12 + b"SoundHandler\0") + minf)
    tkhd = full(b"tkhd", 0, 7, struct.pack(">IIIII", 0, 0, 1, 0, ms) + b"\0" * 8 +
                struct.pack(">hhhH", 0, 0, 0x100, 0) + mtx + b"\0" * 8)
    mvhd = full(b"mvhd", 0, 0, struct.pack(">IIIIIH", 0, 0, 1000, ms, 0x10000, 0x100) + b"\0" * 10 +
                mtx + b"\0" * 24 + struct.pack(">I", 2))
    return box(b"moov", mvhd + box(b"trak", tkhd + mdia))
ftyp = box(b"ftyp", b"3gp4" + b"\0" * 4 + b"3gp4isom")
off = len(ftyp) + len(moov(0)) + 8
open("amr.3gp", "wb").write(ftyp + moov(off) + box(b"mdat", data))
EOF
pkt=$(ffprobe -v error -show_entries packet=duration_time -of csv=p=0 amr.3gp | awk "NR == 1")
check "7: amr.3gp packets hold 0.1 s (five AMR frames) each ($pkt)" num_near "$pkt" 0.1 0.001
tl amr '{ "type": "image", "src": "quad.jpg", "duration": 4 }' ', "music": { "src": "amr.3gp" }'
render amr
# share of 50 ms windows of the output's first 3.9 s that carry sound
loud=$(ffmpeg -hide_banner -nostdin -loglevel error -i amr.mp4 -t 3.9 -vn -ac 1 -ar 8000 -f s16le - |
  python3 -c '
import struct, sys, math
d = sys.stdin.buffer.read(); s = struct.unpack("<%dh" % (len(d) // 2), d[:len(d) // 2 * 2])
w = [s[i:i + 400] for i in range(0, len(s) - 399, 400)]
print("%.3f" % (sum(1 for x in w if math.sqrt(sum(v * v for v in x) / 400) > 330) / max(1, len(w))))')
check "7: sound in at least 90 % of the 50 ms windows ($loud; 1 frame in 5 decoded gives ~0.2)" num_ge "$loud" 0.9

# --- 8. interlaced and surround --------------------------------------------------------
_gen -f lavfi -i "testsrc2=s=320x240:r=50:d=2" -vf "tinterlace=mode=interleave_top,setfield=tff" \
  -flags +ildct+ilme -c:v libx264 -preset ultrafast -x264-params tff=1 -crf 12 -an ileave_src.mp4
expect_eq "8: the source says top field first" tt "$(probe_stream ileave_src.mp4 v field_order)"
# idet_of FILE: "TFF PROGRESSIVE" frame counts of ffmpeg's interlace detector
idet_of() {
  ffmpeg -hide_banner -nostdin -i "$1" -vf idet -f null - 2>&1 |
    awk '/Multi frame detection/ { for (i = 1; i <= NF; i++) { if ($i == "TFF:") t = $(i + 1); if ($i == "Progressive:") p = $(i + 1) } }
         END { print t + 0, p + 0 }'
}
read -r st sp <<<"$(idet_of ileave_src.mp4)"
check "8: the source looks interlaced to idet (TFF $st, progressive $sp)" num_ge "$st" 40
OUT_OVERRIDE='"width": 320, "height": 240, "fps": 25, "preset": "ultrafast", "crf": 10' \
  tl ileave '{ "type": "video", "src": "ileave_src.mp4" }'
render ileave
read -r ot op <<<"$(idet_of ileave.mp4)"
check "8: the output is progressive (TFF $ot, progressive $op of 50)" num_ge "$op" 40

# 5.1 and stereo versions of the same loud tone (-6 dBFS peak on every
# channel but the silent LFE): an unnormalised downmix would peak at +1.6 dBFS
_gen -f lavfi -i "testsrc2=s=160x120:r=25:d=2" -f lavfi -i "sine=f=440:r=48000:d=2" \
  -filter_complex "[1:a]volume=12dB,asplit=5[a][b][c][d][e];anullsrc=r=48000:cl=mono,atrim=end_sample=96000[l];[a][b][c][l][d][e]join=inputs=6:channel_layout=5.1[s]" \
  -map 0:v -map "[s]" -c:v libx264 -preset ultrafast -c:a pcm_s16le surround.mov
_gen -f lavfi -i "testsrc2=s=160x120:r=25:d=2" -f lavfi -i "sine=f=440:r=48000:d=2" \
  -filter_complex "[1:a]volume=12dB,asplit[a][b];[a][b]join=inputs=2:channel_layout=stereo[s]" \
  -map 0:v -map "[s]" -c:v libx264 -preset ultrafast -c:a pcm_s16le stereo.mov
expect_eq "8: surround.mov has 6 channels" 6 "$(probe_stream surround.mov a channels)"
tl downmix '{ "type": "video", "src": "surround.mov" }, { "type": "video", "src": "stereo.mov" }'
render downmix
peak=$(ffmpeg -hide_banner -nostdin -t 2 -i downmix.mp4 -af astats -f null - 2>&1 |
  awk '/Overall/ { o = 1 } o && /Peak level dB:/ { print $NF; exit }')
check "8: 5.1 downmix does not clip (peak $peak dBFS)" num_lt "$peak" -3
ms=$(mean_volume downmix.mp4 0.3 1.4) mst=$(mean_volume downmix.mp4 2.3 1.4)
check "8: 5.1 downmix as loud as the stereo version ($ms vs $mst dB, within 1 dB)" num_near "$ms" "$mst" 1

# --- 9. HDR (PQ / HLG) is tone-mapped to SDR BT.709 ---------------------------------
# 10-bit HEVC as phones record it, BT.2020: the top half three grey patches at
# PQ 10, 100 and 1000 nits (Y 327, 509, 723 of 10-bit limited range), the
# bottom half the same lumas in saturated green. hdr_ref.mp4 has the same
# pixels tagged as SDR BT.2020 (what an untone-mapped render shows).
hdr_gen() { # hdr_gen OUT TRANSFER
  _gen -f lavfi -i "color=black:s=320x240:r=25:d=0.4,format=yuv420p10le,geq=lum='if(lt(X,106),327,if(lt(X,212),509,723))':cb='if(lt(Y,60),512,300)':cr='if(lt(Y,60),512,300)'" \
    -c:v libx265 -preset ultrafast -x265-params "colorprim=bt2020:transfer=$2:colormatrix=bt2020nc:log-level=error" \
    -pix_fmt yuv420p10le "$1"
}
hdr_gen hdr_pq.mp4 smpte2084
hdr_gen hdr_hlg.mp4 arib-std-b67
hdr_gen hdr_ref.mp4 bt2020-10
expect_eq "9: the PQ source is tagged smpte2084, 10-bit" "smpte2084 yuv420p10le" \
  "$(probe_stream hdr_pq.mp4 v color_transfer) $(probe_stream hdr_pq.mp4 v pix_fmt)"
OUT_OVERRIDE='"width": 320, "height": 240, "fps": 25, "preset": "ultrafast", "crf": 10' \
  tl hdr '{ "type": "video", "src": "hdr_pq.mp4" }, { "type": "video", "src": "hdr_hlg.mp4" }, { "type": "video", "src": "hdr_ref.mp4" }'
render hdr
expect_eq "9: the output is tagged SDR BT.709" "bt709 bt709" \
  "$(probe_stream hdr.mp4 v color_transfer) $(probe_stream hdr.mp4 v color_primaries)"
# grey N T: the grey level (R) of patch N (0..2) of the frame at T
grey() { pixel_at hdr.mp4 "$2" $((50 + 110 * $1)) 50 8 | awk '{ print $1 }'; }
green() { pixel_at hdr.mp4 "$2" $((50 + 110 * $1)) 180 8; }
read -r p0 p1 p2 <<<"$(grey 0 0.2) $(grey 1 0.2) $(grey 2 0.2)"
read -r h0 h1 h2 <<<"$(grey 0 0.6) $(grey 1 0.6) $(grey 2 0.6)"
read -r r0 r1 r2 <<<"$(grey 0 1.0) $(grey 1 1.0) $(grey 2 1.0)"
check "9: PQ 10 / 100 / 1000 nits land in SDR: dark, mid, near white ($p0 $p1 $p2)" \
  bash -c "[ $p0 -ge 30 ] && [ $p0 -le 100 ] && [ $p1 -ge 120 ] && [ $p1 -le 200 ] && [ $p2 -ge 225 ]"
check "9: PQ differs from the untone-mapped render (100 nits: $p1 vs $r1; 1000 nits: $p2 vs $r2)" \
  bash -c "[ $((p1 - r1)) -ge 15 ] && [ $((p2 - r2)) -ge 20 ]"
check "9: HLG greys land in SDR, in order ($h0 $h1 $h2)" \
  bash -c "[ $h0 -ge 30 ] && [ $h0 -lt $h1 ] && [ $h1 -lt $h2 ] && [ $h2 -ge 180 ]"
read -r hr _ <<<"$(green 2 0.6)"
read -r rr _ <<<"$(green 2 1.0)"
check "9: HLG BT.2020 green is converted to BT.709 primaries (red $hr vs $rr untone-mapped)" \
  bash -c "[ $((rr - hr)) -ge 40 ]"

# --- 10. HEIC stills (iPhone photos) through libheif -----------------------------------
# FFmpeg 5.1 reads no HEIF image items; heif-enc (libheif's x265 encoder) makes
# quad.heic from the quadrant picture of section 2; tests/heic_gen.py makes the
# same picture stored with irot/imir boxes (orientations 2..8), as a phone
# stores a turned photo; logo_a.heic has an alpha plane (left half opaque blue,
# right half transparent).
command -v heif-enc >/dev/null || { not_ok "10: heif-enc not installed (libheif-examples)"; t_done; }
mkdir -p "$T_DIR/tmp"
export TMPDIR="$T_DIR/tmp" # where the decoded stills go (and must not stay)
_gen -f lavfi -i "color=c=white:s=80x40,drawbox=x=0:y=0:w=40:h=20:c=red:t=fill,drawbox=x=40:y=0:w=40:h=20:c=lime:t=fill,drawbox=x=0:y=20:w=40:h=20:c=blue:t=fill" \
  -frames:v 1 quad.png
heif-enc -q 90 quad.png -o quad.heic >>gen.log 2>&1 || not_ok "10: heif-enc encodes quad.heic"
check "10: FFmpeg itself cannot read quad.heic" bash -c "! ffmpeg -v error -i quad.heic -frames:v 1 -f null - 2>/dev/null"
clips="{ \"type\": \"image\", \"src\": \"quad.heic\", \"duration\": 0.2, \"fit\": \"stretch\" }"
for o in 2 3 4 5 6 7 8; do
  python3 "$VODQ_TESTS/heic_gen.py" "h$o.heic" "$o" 2>>gen.log || not_ok "10: heic_gen.py writes orientation $o"
  clips+=", { \"type\": \"image\", \"src\": \"h$o.heic\", \"duration\": 0.2, \"fit\": \"stretch\" }"
done
tl heic "$clips"
render heic
quads heic.mp4 >heic.quads
for o in 1 2 3 4 5 6 7 8; do
  expect_eq "10: HEIC with orientation $o (irot/imir) shown upright (quadrants TL TR BL BR)" \
    "${UPRIGHT[$o]}" "$(sed -n "${o}p" heic.quads)"
done
expect_eq "10: no decoded temporary file left behind" "" "$(ls "$T_DIR/tmp")"
_gen -f lavfi -i "color=c=blue:s=64x64,format=rgba,geq=r=0:g=0:b=255:a='if(lt(X,32),255,0)'" -frames:v 1 logo_a.png
heif-enc -q 90 logo_a.png -o logo_a.heic >>gen.log 2>&1 || not_ok "10: heif-enc encodes logo_a.heic"
_gen -f lavfi -i "color=c=red:s=160x120" -frames:v 1 red.png
tl heicalpha '{ "type": "image", "src": "red.png", "duration": 0.4 }' \
  ', "overlays": [ { "src": "logo_a.heic", "anchor": "top-left", "width": 64 } ]'
render heicalpha
expect_rgb "10: the HEIC sticker's opaque half is blue" "0 0 255" "$(pixel_at heicalpha.mp4 0.1 8 24)" 40
expect_rgb "10: its transparent half shows the red picture" "255 0 0" "$(pixel_at heicalpha.mp4 0.1 44 24)" 40
tl heicvideo '{ "type": "video", "src": "quad.heic" }'
expect_rejected "10: a HEIC as a video clip" heicvideo \
  "quad.heic is a HEIF still image, not a video (use it in an image clip)"

t_done
