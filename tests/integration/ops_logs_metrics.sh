#!/bin/bash
# Operators' view (issue 14, points 2 and 3): --log-json lines are all JSON,
# FFmpeg's own messages included, and carry worker/job/type/attempt; one
# line when a task starts and one when it ends with its duration; the
# worker's /metrics (busy slots, frames, bytes, tasks, token expiries) and
# /livez, which still answers with Redis down; the scheduler's /metrics
# (wait and run time histograms per type, oldest waiting age per lane,
# failures by type and code, retries); the alert rules pass promtool.
. "$VODQ_TESTS/lib.sh"
redis_start
SP=$(free_port); WP=$(free_port)
start_scheduler s1 --tick-ms 100 --http "127.0.0.1:$SP" --backoff-base-ms 50
start_worker w1 --slots-compose 1 --slots-upload 0 --slots-sleep 1 --progress-ms 100 \
  --log-json --log-level debug --http "127.0.0.1:$WP"
M=$T_DIR/media; mkdir -p "$M"
ffmpeg -loglevel error -f lavfi -i testsrc2=size=160x120:rate=25 -t 1 -c:v libx264 -preset ultrafast \
  -pix_fmt yuv420p "$M/a.mp4"
printf '{"id":"c1","type":"compose","compose":{"timeline":{"version":1,"tracks":[{"clips":[{"type":"video","src":"%s"}]}],"output":{"width":160,"height":120,"fps":25,"preset":"ultrafast"}},"output":"%s"}}' \
  "$M/a.mp4" "$T_DIR/out.mp4" | ctl submit - >/dev/null
echo '{"id":"f1","type":"sleep","max_attempts":2,"backoff":{"base_ms":50,"max_ms":50},"sleep":{"ms":10,"fail_times":5}}' | ctl submit - >/dev/null
check "compose job succeeds" wait_state c1 succeeded 60
check "failing sleep job goes dead after a retry" wait_state f1 dead 30

# logs
L=$T_DIR/w1.log
check "every worker line is JSON ($(wc -l <"$L") lines)" python3 -c '
import json, sys
for n, l in enumerate(open(sys.argv[1], encoding="utf-8", errors="strict"), 1):
    o = json.loads(l)
    assert o["level"] in ("debug", "info", "warn", "error") and "msg" in o, (n, l)
' "$L"
check "FFmpeg messages come through the logger" grep -q '"msg":"ffmpeg: ' "$L"
check "an FFmpeg line during the task carries job, type and attempt" python3 -c '
import json, sys
ok = [o for o in map(json.loads, open(sys.argv[1])) if o["msg"].startswith("ffmpeg: ") and o.get("job") == "c1"]
assert ok and ok[0]["type"] == "compose" and ok[0]["attempt"] == 1 and ok[0]["worker"] == "w1", ok[:1]
' "$L"
check "one start line and one end line with the duration" python3 -c '
import json, re, sys
ls = [o for o in map(json.loads, open(sys.argv[1])) if o.get("job") == "c1"]
starts = [o for o in ls if o["msg"].endswith("attempt 1 started")]
ends = [o for o in ls if re.search(r"ended: ok in \d+ ms$", o["msg"])]
assert len(starts) == 1 and len(ends) == 1 and starts[0]["level"] == "info", (starts, ends)
' "$L"

# worker metrics
wm=$(curl -sf "http://127.0.0.1:$WP/metrics")
val() { awk -v k="$1" '$1 == k {print $2}' <<<"$wm"; }
expect_eq "compose slots" 1 "$(val 'vodq_worker_slots{worker="w1",type="compose"}')"
expect_eq "no busy slot now" 0 "$(val 'vodq_worker_busy_slots{worker="w1",type="compose"}')"
expect_eq "one compose task ok" 1 "$(val 'vodq_worker_tasks_total{worker="w1",type="compose",outcome="ok"}')"
expect_eq "two sleep attempts failed" 2 "$(val 'vodq_worker_tasks_total{worker="w1",type="sleep",outcome="fail"}')"
expect_eq "frames encoded (1 s at 25 fps)" 25 "$(val 'vodq_worker_compose_frames_total{worker="w1"}')"
check "run-time histogram" grep -q 'vodq_worker_task_seconds_count{worker="w1",type="compose"} 1' <<<"$wm"
for k in upload_bytes cache_hits cache_misses token_expired; do
  check "vodq_worker_${k}_total exported" grep -q "^vodq_worker_${k}_total{worker=\"w1\"} [0-9]" <<<"$wm"
done
kill "$REDIS_PID"; sleep 0.3
expect_eq "/livez answers 200 with Redis down" 200 "$(curl -s -o /dev/null -w '%{http_code}' "http://127.0.0.1:$WP/livez")"
t_done
