#!/bin/bash
# Aliyun timelines through the queue: a compose job whose "aliyun_timeline"
# is a JSON string (as Aliyun's APIs carry it), with a MediaId resolved
# through the queue's media map (vodqctl media set/list/rm), lenient: the
# VFX it drops is listed in the job's result and sent as a warning event; a
# strict job with the same VFX goes dead after one attempt naming its path.
. "$VODQ_TESTS/lib.sh"
redis_start
start_scheduler s1
start_worker w1 --slots-compose 1 --slots-upload 0 --slots-sleep 0
M=$T_DIR/media; mkdir -p "$M" "$T_DIR/out"
ffmpeg -loglevel error -f lavfi -i testsrc2=size=320x240:rate=25 -f lavfi -i sine=frequency=440 \
  -t 2 -c:v libx264 -preset ultrafast -pix_fmt yuv420p -c:a aac -shortest "$M/a.mp4"

check "media set" ctl media set vid-0001 "$M/a.mp4"
check "media set (a second entry)" ctl media set img-2 "$M/b.png"
expect_eq "media list shows both" 2 "$(ctl media list | wc -l)"
expect_eq "media list --json" "$M/a.mp4" "$(ctl --json media list | python3 -c 'import json,sys; print(json.load(sys.stdin)["vid-0001"])')"
check "media rm" ctl media rm img-2
check "media rm of a missing entry fails" bash -c "! ctl media rm img-2 2>/dev/null"
expect_eq "hash holds one entry" 1 "$(rcli HLEN 'vodq:{default}:media')"

timeline='{"VideoTracks":[{"VideoTrackClips":[{"MediaId":"vid-0001","Out":"1.5","Effects":[{"Type":"VFX","SubType":"heartbeat"}]}]}]}'
job() { # job ID LENIENT
  python3 - "$1" "$2" "$timeline" "$T_DIR/out/$1.mp4" <<'EOF'
import json, sys
print(json.dumps({"id": sys.argv[1], "type": "compose", "max_attempts": 3, "compose": {
  "aliyun_timeline": sys.argv[3], "lenient": sys.argv[2] == "1", "output": sys.argv[4],
  "output_media_config": {"Width": 320, "Height": 240, "Video": {"Fps": 25, "Preset": "ultrafast"}}}}))
EOF
}
job a1 1 | ctl submit - >/dev/null
check "lenient Aliyun job succeeds" wait_state a1 succeeded 60
f=$(ffprobe -v error -count_frames -select_streams v -show_entries stream=nb_read_frames -of csv=p=0 "$T_DIR/out/a1.mp4")
expect_eq "its output lasts Out 1.5 s (37.5 -> 38 frames at 25 fps)" 38 "$f"
r=$(job_field a1 result)
check "the result lists the dropped VFX ($r)" grep -q 'VFX \\"heartbeat\\" is an Aliyun cloud asset (dropped)' <<<"$r"
ev=$(rcli XRANGE 'vodq:{default}:events' - + | tr '\n' ' ')
check "a warning event names the dropped VFX" grep -q 'warning.*VideoTracks\[0\].VideoTrackClips\[0\].Effects\[0\]: VFX' <<<"$ev"

job a2 0 | ctl submit - >/dev/null
check "strict Aliyun job goes dead" wait_state a2 dead 30
expect_eq "after one attempt (permanent)" 1 "$(job_field a2 attempts)"
check "its error names the effect" grep -q 'VideoTracks\[0\].VideoTrackClips\[0\].Effects\[0\]: VFX "heartbeat"' <<<"$(job_field a2 error)"
check "no output left" test ! -e "$T_DIR/out/a2.mp4"
t_done
