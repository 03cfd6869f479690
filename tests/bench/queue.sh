#!/usr/bin/env bash
# Queue benchmark: vodq against BullMQ on one redis-server started here, N no-op
# tasks (default 20000) at concurrency 1 and 50, one worker process each, steady state
# (vodq's clock starts at its first claim, BullMQ's at Worker.run() of a warmed-up
# worker), jobs/s and worker and Redis CPU per job, runs
# alternated ROUNDS times (default 3) and the median reported, since this machine is
# shared and absolute times drift. The last line is `ratio <vodq/bullmq at c=50>`.
#   bash tests/bench/queue.sh [N] [ROUNDS]
# Needs a built tree (build/bin) and node+npm (bullmq is installed from npm into
# ${VODQ_BENCH_CACHE:-~/.cache/vodq-bench}).
set -euo pipefail
here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
N=${1:-20000}; ROUNDS=${2:-3}
export VODQ_BIN=${VODQ_BIN:-$here/../../build/bin}
[ -x "$VODQ_BIN/vodq-worker" ] || { echo "build first: cmake -B build && cmake --build build" >&2; exit 2; }
dir=$(mktemp -d); port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
redis-server --port "$port" --bind 127.0.0.1 --save '' --appendonly no --dir "$dir" --daemonize no --logfile "$dir/redis.log" &
rpid=$!
trap 'kill $rpid 2>/dev/null; rm -rf "$dir"' EXIT
for _ in $(seq 100); do redis-cli -p "$port" ping >/dev/null 2>&1 && break; sleep 0.05; done
echo "# N=$N rounds=$ROUNDS redis 127.0.0.1:$port load: $(cut -d' ' -f1-3 /proc/loadavg)"
for c in 1 50; do
  for i in $(seq "$ROUNDS"); do
    bash "$here/vodq_run.sh" "$port" "$N" "$c" | tee -a "$dir/vodq-$c.jsonl"
    bash "$here/bullmq_run.sh" "$port" "$N" "$c" | tee -a "$dir/bullmq-$c.jsonl"
  done
done
echo "# load after: $(cut -d' ' -f1-3 /proc/loadavg)"
python3 - "$dir" <<'PY'
import json, statistics, sys
d = sys.argv[1]
def med(sysname, c, key):
    rows = [json.loads(l) for l in open('%s/%s-%d.jsonl' % (d, sysname, c))]
    return statistics.median(r[key] for r in rows)
for c in (1, 50):
    v, b = med('vodq', c, 'jobs_per_s'), med('bullmq', c, 'jobs_per_s')
    print('c=%d vodq %.0f jobs/s (p50 %s ms, p99 %s ms, %.1f cmds/job, CPU/job worker %.1f us redis %.1f us) | bullmq %.0f jobs/s (p50 %s ms, p99 %s ms, %.1f cmds/job, CPU/job worker %.1f us redis %.1f us) | ratio %.2f' % (
        c, v, med('vodq', c, 'p50_dispatch_ms'), med('vodq', c, 'p99_dispatch_ms'), med('vodq', c, 'redis_cmds_per_job'),
        med('vodq', c, 'worker_cpu_us_per_job'), med('vodq', c, 'redis_cpu_us_per_job'),
        b, med('bullmq', c, 'p50_dispatch_ms'), med('bullmq', c, 'p99_dispatch_ms'), med('bullmq', c, 'redis_cmds_per_job'),
        med('bullmq', c, 'worker_cpu_us_per_job'), med('bullmq', c, 'redis_cpu_us_per_job'), v / b))
print('ratio %.2f' % (med('vodq', 50, 'jobs_per_s') / med('bullmq', 50, 'jobs_per_s')))
PY
