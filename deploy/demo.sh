#!/usr/bin/env bash
# deploy/demo.sh: vodq's main job end to end on one machine.
#  1. installs what is missing and builds (deploy/setup.sh)
#  2. starts its own redis-server, a local S3 server (OpenStack Swift + s3api) and
#     one vodq-scheduler and one vodq-worker, all on 127.0.0.1 random ports
#  3. generates media (two clips with tone, a photo, a logo, music) with ffmpeg
#  4. submits ONE job: compose the timeline (transition, caption, watermark,
#     music) in session "demo", then upload the video (multipart) and its cover
#     image to the S3 server as follow-up jobs
#  5. follows them with vodqctl watch (progress bars) and reads the objects back
# Everything it starts is stopped at the end; files go to a temporary folder
# (kept with VODQ_DEMO_KEEP=1).
set -euo pipefail
src=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
bash "$src/deploy/setup.sh"
B=$src/build/bin
D=$(mktemp -d /tmp/vodq-demo.XXXXXX)
pids=()
cleanup() {
  for p in "${pids[@]:-}"; do kill "$p" 2>/dev/null || true; done
  wait 2>/dev/null || true
  [ "${VODQ_DEMO_KEEP:-}" = 1 ] && echo "demo files kept in $D" || rm -rf "$D"
}
trap cleanup EXIT
port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1]); s.close()'; }

echo "== starting redis-server, S3 server, scheduler, worker"
RP=$(port)
redis-server --port "$RP" --bind 127.0.0.1 --dir "$D" --save '' --appendonly yes \
  --daemonize no --logfile "$D/redis.log" & pids+=($!)
for _ in $(seq 100); do redis-cli -p "$RP" ping >/dev/null 2>&1 && break; sleep 0.05; done
export VODQ_REDIS_URL=redis://127.0.0.1:$RP
pids+=("$(bash "$src/tests/s3-swift.sh" start 0 "$D/s3")")
EP=http://127.0.0.1:$(cat "$D/s3/port")
printf 'machine 127.0.0.1 login test:tester password testing\n' >"$D/netrc"
s3() { curl -sS --netrc-file "$D/netrc" --aws-sigv4 aws:amz:us-east-1:s3 -H x-amz-content-sha256:UNSIGNED-PAYLOAD "$@"; }
s3 -f -X PUT "$EP/demo-bucket" >/dev/null
"$B/vodq-scheduler" >"$D/scheduler.log" 2>&1 & pids+=($!)
# the worker may read and write only below the demo folder (path roots)
"$B/vodq-worker" --slots-compose 1 --slots-upload 2 --roots "$D" >"$D/worker.log" 2>&1 & pids+=($!)

echo "== generating media in $D"
ff() { ffmpeg -loglevel error -y "$@"; }
ff -f lavfi -i testsrc2=size=1280x720:rate=30 -f lavfi -i sine=frequency=440 -t 4 \
  -c:v libx264 -preset veryfast -pix_fmt yuv420p -c:a aac -shortest "$D/a.mp4"
ff -f lavfi -i mandelbrot=size=960x720:rate=30 -f lavfi -i sine=frequency=660 -t 4 \
  -c:v libx264 -preset veryfast -pix_fmt yuv420p -c:a aac -shortest "$D/b.mp4"
ff -f lavfi -i smptebars=size=800x600 -frames:v 1 "$D/photo.png"
ff -f lavfi -i color=c=orange:size=160x60 -frames:v 1 "$D/logo.png"
ff -f lavfi -i "sine=frequency=220:duration=12" -c:a pcm_s16le "$D/music.wav"
cat >"$D/timeline.json" <<JSON
{"version": 1,
 "tracks": [{"clips": [
   {"type": "video", "src": "a.mp4", "in": 0.5, "out": 3.5, "fit": "contain",
    "transition": {"type": "fade", "duration": 0.5}},
   {"type": "video", "src": "b.mp4", "out": 3, "fit": "blur",
    "transition": {"type": "wipeleft", "duration": 0.5}},
   {"type": "image", "src": "photo.png", "duration": 2, "fit": "cover"}]}],
 "overlays": [{"type": "image", "src": "logo.png", "anchor": "top-right", "x": 16, "y": 16,
               "scale": 0.12, "opacity": 0.8}],
 "captions": [{"text": "vodq 演示 demo", "size": 48, "color": "#ffffff", "outline": 2,
               "anchor": "bottom", "y": 40, "start": 0.5, "end": 5}],
 "music": {"src": "music.wav", "loop": true, "volume": 0.3, "fade_in": 1, "fade_out": 1},
 "output": {"width": 1280, "height": 720, "fps": 30, "video_codec": "h264", "crf": 23,
            "preset": "veryfast", "encoder": "auto", "faststart": true,
            "cover": {"at": 1.0, "path": "$D/out/cover.jpg"}}}
JSON
mkdir -p "$D/out"
S3='"endpoint":"'$EP'","region":"us-east-1","access_key":"test:tester","secret_key":"testing","path_style":true'
cat >"$D/job.json" <<JSON
{"type": "compose", "session": "demo",
 "compose": {"timeline_file": "$D/timeline.json", "output": "$D/out/demo.mp4"},
 "then": [
   {"type": "upload", "upload": {"kind": "video", "part_size": 5242880, "parallel": 4,
     "s3": {"url": "s3://demo-bucket/videos/demo.mp4", $S3}}},
   {"type": "upload", "upload": {"kind": "image", "file": "\$cover",
     "s3": {"url": "s3://demo-bucket/covers/demo.jpg", $S3}}}]}
JSON

echo "== submitting: compose, then upload video + cover"
id=$("$B/vodqctl" submit "$D/job.json")
echo "job $id"
"$B/vodqctl" watch "$id"
"$B/vodqctl" watch "$id.then1"
"$B/vodqctl" watch "$id.then2"
echo "== results"
"$B/vodqctl" status "$id"
"$B/vodqctl" status "$id.then1"
"$B/vodqctl" status "$id.then2"
ffprobe -v error -show_entries format=duration:stream=codec_name,width,height -of compact "$D/out/demo.mp4"
s3 -f -o "$D/back.mp4" "$EP/demo-bucket/videos/demo.mp4"
s3 -f -o "$D/back.jpg" "$EP/demo-bucket/covers/demo.jpg"
cmp "$D/back.mp4" "$D/out/demo.mp4" && echo "S3 object videos/demo.mp4: $(stat -c %s "$D/back.mp4") bytes, identical to the export"
cmp "$D/back.jpg" "$D/out/cover.jpg" && echo "S3 object covers/demo.jpg: $(stat -c %s "$D/back.jpg") bytes, identical to the cover"
echo "== demo finished"
