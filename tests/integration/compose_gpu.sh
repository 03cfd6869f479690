#!/usr/bin/env bash
# compose_gpu.sh (issue 4 item 3): the GPU path of vodq-compose. Skipped
# (exit 77) unless `vodq-compose --probe` finds a CUDA device. Then: the
# probe reports NVDEC, and NVENC only where it opens (an H100/H200 has none:
# then FFmpeg's answer is kept); a render with --encoder auto picks NVENC
# when there is one (else libx264), decodes
# the H.264 sources with NVDEC ("hw_decode":true in --json), and its output
# has the asked size, frame count, duration and BT.709 tags, and looks like
# the same timeline rendered with libx264 (SSIM).
set -euo pipefail
. "${VODQ_TESTS:-$(cd "$(dirname "$0")/.." && pwd)}/compose_lib.sh"
compose_require
cd "$T_DIR"

probe=$("$COMPOSE" --probe)
if ! grep -q '"cuda":true' <<<"$probe"; then
  echo "# no CUDA device: $probe"
  exit 77
fi
check "probe says nvdec" grep -q '"nvdec":true' <<<"$probe"
# An H100/H200 has NVDEC but no NVENC: the probe must say so (FFmpeg's answer
# in details) and auto falls back to software.
if grep -q '"h264":\["h264_nvenc"' <<<"$probe"; then
  want_enc=h264_nvenc
else
  want_enc=libx264
  check "probe gives FFmpeg's answer for h264_nvenc" grep -q '"h264_nvenc":"[^"]' <<<"$probe"
fi

gen_testsrc src.mp4 3 640 360 25
cat >gpu.json <<'JSON'
{ "version": 1, "tracks": [ { "clips": [
  { "type": "video", "src": "src.mp4", "in": 0.5, "out": 2.5 },
  { "type": "video", "src": "src.mp4", "out": 1 } ] } ],
  "output": { "width": 640, "height": 360, "fps": 25 } }
JSON
if [ "$want_enc" = libx264 ]; then
  rc=0; "$COMPOSE" --encoder h264_nvenc gpu.json forced.mp4 >/dev/null 2>"$T_DIR/force.err" || rc=$?
  check "forcing h264_nvenc fails naming it (exit $rc: $(head -c 200 "$T_DIR/force.err"))" \
    grep -q h264_nvenc "$T_DIR/force.err"
  check "forcing h264_nvenc leaves no file" [ ! -e forced.mp4 ]
fi
if compose gpu gpu.json gpu.mp4 --json; then ok "NVENC render"; else not_ok "NVENC render"; fi
res=$(cat "$T_DIR/gpu.out")
check "auto picked $want_enc ($res)" grep -q "\"encoder\":\"$want_enc\"" <<<"$res"
check "NVDEC decoded the sources ($res)" grep -q '"hw_decode":true' <<<"$res"
expect_eq "gpu: 75 frames" 75 "$(probe_frames gpu.mp4)"
expect_eq "gpu: 640 wide" 640 "$(probe_stream gpu.mp4 v width)"
expect_eq "gpu: BT.709 matrix tag" bt709 "$(probe_stream gpu.mp4 v color_space)"
check "gpu: video ends at 3 s" num_near "$(probe_end gpu.mp4 v)" 3 0.02
check "gpu: audio ends at 3 s" num_near "$(probe_end gpu.mp4 a)" 3 0.04
if compose cpu gpu.json cpu.mp4 --encoder libx264; then ok "libx264 render"; else not_ok "libx264 render"; fi
read -r _ n _ ssim _ _ <<<"$(ssim_psnr gpu.mp4 cpu.mp4)"
expect_eq "gpu vs cpu: same frame count" 75 "$n"
check "gpu vs cpu: min SSIM $ssim >= 0.9" num_ge "$ssim" 0.9
t_done
