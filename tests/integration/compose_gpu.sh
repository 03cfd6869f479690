#!/usr/bin/env bash
# compose_gpu.sh (issue 4 item 3): the GPU path of vodq-compose. Skipped
# (exit 77) unless `vodq-compose --probe` finds a CUDA device. Then: the
# probe lists h264_nvenc; a render with --encoder auto picks NVENC, decodes
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
check "probe lists h264_nvenc" grep -q '"h264":\["h264_nvenc"' <<<"$probe"
check "probe says nvdec" grep -q '"nvdec":true' <<<"$probe"

gen_testsrc src.mp4 3 640 360 25
cat >gpu.json <<'JSON'
{ "version": 1, "tracks": [ { "clips": [
  { "type": "video", "src": "src.mp4", "in": 0.5, "out": 2.5 },
  { "type": "video", "src": "src.mp4", "out": 1 } ] } ],
  "output": { "width": 640, "height": 360, "fps": 25 } }
JSON
if compose gpu gpu.json gpu.mp4 --json; then ok "NVENC render"; else not_ok "NVENC render"; fi
res=$(cat "$T_DIR/gpu.out")
check "auto picked h264_nvenc ($res)" grep -q '"encoder":"h264_nvenc"' <<<"$res"
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
