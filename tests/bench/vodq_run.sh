#!/usr/bin/env bash
# vodq half of tests/bench/queue.sh.
#
#   tests/bench/vodq_run.sh PORT N CONCURRENCY
#
# Against an already running redis-server on 127.0.0.1:PORT: flushes the queue
# "vodqbench", preloads N no-op tasks ({"type":"sleep","sleep":{"ms":0}}) through the
# submit stream and a scheduler (stopped once all are queued), runs CONFIG RESETSTAT,
# then starts ONE vodq-worker with CONCURRENCY sleep slots and times the steady state:
# the clock starts when the worker's first claim returns (the earliest started_at of the
# jobs, Redis time) and stops at the last completion; nothing is forked inside it.
# Prints one line of JSON like bullmq_run.sh:
#   {"system":"vodq","n":N,"concurrency":C,"jobs_per_s":X,"p50_dispatch_ms":A,
#    "p99_dispatch_ms":B,"redis_cmds_per_job":K,"worker_cpu_us_per_job":W,
#    "redis_cpu_us_per_job":R}
# Dispatch latency is started_at - created_at of every job (queue wait included, as
# for BullMQ, whose jobs are also loaded before its worker starts).
# redis_cmds_per_job counts what the worker does per job (the preload is not counted;
# BullMQ's figure includes its adds, which cost it ~2 commands per job).
# Worker and Redis CPU per job are counted from the first job that succeeded to the
# last (the worker's start-up is left out), over the jobs finished in that time.
set -euo pipefail
PORT=${1:?port}; N=${2:?n}; C=${3:?concurrency}
here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
BIN=${VODQ_BIN:-$here/../../build/bin}
URL="redis://127.0.0.1:$PORT"
Q=vodqbench
r() { redis-cli -p "$PORT" "$@"; }
r --scan --pattern "vodq:{$Q}:*" | xargs -r -n 500 redis-cli -p "$PORT" DEL >/dev/null
# VODQ_BENCH_FAIR=1: the sleep lane is fair (docs/protocol.md section 17), to price that path
[ "${VODQ_BENCH_FAIR:-}" = 1 ] && r HSET "vodq:{$Q}:lane:sleep" fair 1 >/dev/null
VODQ_BIN=$BIN bash "$here/preload.sh" "$PORT" "$N" "$Q"
r CONFIG RESETSTAT >/dev/null
rcpu() { r INFO cpu | awk -F: '/^used_cpu_(sys|user):/ {s += $2} END {printf "%.3f", s}'; }
# the worker's CPU time in seconds, all its threads (schedstat: nanoseconds)
wcpu() { cat /proc/"$1"/task/*/schedstat 2>/dev/null | awk '{s += $1} END {printf "%.6f", s / 1e9}'; }
t0=$(date +%s%3N)
"$BIN/vodq-worker" --redis "$URL" --queue "$Q" --slots-sleep "$C" --slots-compose 0 \
  --slots-upload 0 --log-level error --progress-ms 1000 &
wpid=$!
# CPU is counted in the steady state like the clock: from the first job that succeeded
# (the worker's start-up, dynamic linking included, costs ~0.1 s of CPU and is left out)
for _ in $(seq 60000); do
  d0=$(r HGET "vodq:{$Q}:stats" succeeded)
  [ -n "$d0" ] && break
  sleep 0.002
done
w0=$(wcpu "$wpid"); c0=$(rcpu)
for _ in $(seq 60000); do
  [ "$(r HGET "vodq:{$Q}:stats" succeeded)" = "$N" ] && break
  sleep 0.01
done
c1=$(rcpu); w1=$(wcpu "$wpid")
kill "$wpid"; wait "$wpid" 2>/dev/null || true
python3 - "$PORT" "$N" "$C" "$t0" "$Q" "$(echo "$w1 - $w0" | bc)" "$(echo "$c1 - $c0" | bc)" "$d0" <<'PY'
import json, subprocess, sys
port, n, c, t0, q = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), int(sys.argv[4]), sys.argv[5]
wcpu, rcpu, d0 = float(sys.argv[6]), float(sys.argv[7]), int(sys.argv[8])
def cli(*a, inp=None):
    return subprocess.run(['redis-cli', '-p', port] + list(a), input=inp, capture_output=True,
                          text=True, check=True).stdout
stats = cli('INFO', 'commandstats')
calls = 0
for line in stats.splitlines():
    if line.startswith('cmdstat_') and not line.startswith(('cmdstat_info', 'cmdstat_hget:', 'cmdstat_config')):
        calls += int(line.split('calls=')[1].split(',')[0])
cmds = ''.join('HMGET vodq:{%s}:job:b%06d created_at started_at finished_at state\n' % (q, i) for i in range(n))
vals = cli(inp=cmds).split('\n')
lat, last, ok, first = [], 0, 0, None
for i in range(n):
    cr, st, fi, state = vals[4*i:4*i+4]
    if state == 'succeeded':
        ok += 1
        lat.append(int(st) - int(cr))
        last = max(last, int(fi))
        first = int(st) if first is None else min(first, int(st))
lat.sort()
if ok != n:
    print('only %d of %d succeeded' % (ok, n), file=sys.stderr); sys.exit(1)
pct = lambda p: lat[min(len(lat) - 1, int(p * len(lat)))]
secs = max(last - first, 1) / 1000.0  # steady state: from the first claim
print(json.dumps({"system": "vodq", "n": n, "concurrency": c, "jobs_per_s": round(n / secs, 1),
                  "p50_dispatch_ms": pct(0.5), "p99_dispatch_ms": pct(0.99),
                  "redis_cmds_per_job": round(calls / n, 2),
                  "worker_cpu_us_per_job": round(wcpu * 1e6 / max(n - d0, 1), 1),
                  "redis_cpu_us_per_job": round(rcpu * 1e6 / max(n - d0, 1), 1)}))
PY
