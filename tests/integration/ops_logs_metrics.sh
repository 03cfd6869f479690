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
# scheduler metrics, from the events stream
# the poller reads Redis once a second and the jobs may all have ended within the
# first: wait for a scrape taken after the retry
sval() { awk -v k="$1" '$1 == k {print $2}' <<<"$sm"; }
for _ in $(seq 50); do
  sm=$(curl -sf "http://127.0.0.1:$SP/metrics")
  [ "$(sval 'vodq_job_retries_total{queue="default",type="sleep"}')" = 1 ] && break
  sleep 0.1
done
expect_eq "wait histogram: one compose attempt" 1 "$(sval 'vodq_job_wait_seconds_count{queue="default",type="compose"}')"
expect_eq "run histogram: one compose attempt" 1 "$(sval 'vodq_job_run_seconds_count{queue="default",type="compose"}')"
expect_eq "wait histogram: two sleep attempts" 2 "$(sval 'vodq_job_wait_seconds_count{queue="default",type="sleep"}')"
expect_eq "failures by type and code (io)" 2 "$(sval 'vodq_job_failures_total{queue="default",type="sleep",code="io"}')"
expect_eq "one retry" 1 "$(sval 'vodq_job_retries_total{queue="default",type="sleep"}')"
expect_eq "nothing waiting in the compose lane" 0.000 "$(sval 'vodq_lane_oldest_waiting_seconds{queue="default",lane="compose"}')"
check "histogram buckets are cumulative" python3 -c '
import re, sys
b = [int(v) for v in re.findall(r"vodq_job_run_seconds_bucket[{]queue=.default.,type=.sleep.,le=.[^ ]+ (\d+)", sys.argv[1])]
assert b and b == sorted(b) and b[-1] == 2, b' "$sm"
# a task nobody claims (w1 serves no uploads): the oldest-waiting age grows
echo '{"id":"wait1","type":"upload","upload":{"file":"/x","s3":{"url":"s3://bkt/x","access_key":"a","secret_key":"b"}}}' | ctl submit - >/dev/null
sleep 2.2  # the poller scrapes once a second: the figure may be up to ~1 s old
m2=$(curl -sf "http://127.0.0.1:$SP/metrics")
age=$(awk '$1 == "vodq_lane_oldest_waiting_seconds{queue=\"default\",lane=\"upload\"}" {print $2}' <<<"$m2")
check "oldest waiting age of the upload lane is about 1 s ($age)" python3 -c "import sys; assert 0.8 <= float(sys.argv[1]) < 30" "$age"
expect_eq "lag of the upload lane" 1 "$(awk '$1 == "vodq_lane_lag{queue=\"default\",lane=\"upload\"}" {print $2}' <<<"$m2")"

# the monitoring files: alert rules pass promtool, the dashboard is JSON using our metrics
if command -v promtool >/dev/null; then
  check "promtool check rules deploy/monitoring/alerts.yml" promtool check rules "$VODQ_SRC/deploy/monitoring/alerts.yml"
  check "promtool test rules (the alerts fire on the right series)" promtool test rules "$VODQ_SRC/deploy/monitoring/alerts_test.yml"
else
  echo "# promtool not installed: rules not checked"
fi
check "Grafana dashboard: valid JSON whose queries use exported metrics" python3 -c '
import json, re, sys
d = json.load(open(sys.argv[1]))
exprs = [t["expr"] for p in d["panels"] for t in p.get("targets", [])]
names = set(re.findall(r"(vodq_[a-z_]+)", " ".join(exprs)))
known = set(re.findall(r"^(vodq_[a-z_]+)", sys.argv[2] + chr(10) + sys.argv[3], re.M))
known |= {n + s for n in known for s in ("_bucket", "_sum", "_count")}
base = {re.sub(r"_(bucket|sum|count)$", "", n) for n in known}
missing = [n for n in names if n not in known and n not in base]
assert exprs and not missing, missing' "$VODQ_SRC/deploy/monitoring/grafana-dashboard.json" "$sm" "$wm"

kill "$REDIS_PID"; sleep 0.3
expect_eq "/livez answers 200 with Redis down" 200 "$(curl -s -o /dev/null -w '%{http_code}' "http://127.0.0.1:$WP/livez")"
t_done
