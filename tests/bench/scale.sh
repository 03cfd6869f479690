#!/usr/bin/env bash
# Scaling benchmark: 1, 2, 4 and 8 vodq-worker processes (50 sleep slots each) on one
# redis-server started here, N no-op tasks (default 40000) preloaded through the
# submit stream for each run. Prints, per worker count, jobs/s in the steady state (from
# the first claim to the last completion, Redis time) and Redis's CPU use in that time
# (100% = one core: Redis executes commands on one thread, so that is where it
# saturates), then the point where Redis saturates (CPU >= 90%, or less than 10% more
# jobs/s than the run before). Last line: `ratio <jobs/s with 8 workers / with 1>`.
#   bash tests/bench/scale.sh [N]
set -euo pipefail
here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
N=${1:-40000}
BIN=${VODQ_BIN:-$here/../../build/bin}
[ -x "$BIN/vodq-worker" ] || { echo "build first: cmake -B build && cmake --build build" >&2; exit 2; }
dir=$(mktemp -d); port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
redis-server --port "$port" --bind 127.0.0.1 --save '' --appendonly no --dir "$dir" --daemonize no --logfile "$dir/redis.log" &
rpid=$!
wpids=()
trap 'kill $rpid "${wpids[@]}" 2>/dev/null; rm -rf "$dir"' EXIT
r() { redis-cli -p "$port" "$@"; }
for _ in $(seq 100); do r ping >/dev/null 2>&1 && break; sleep 0.05; done
URL="redis://127.0.0.1:$port"
Q=vodqscale
echo "# N=$N redis 127.0.0.1:$port, $(nproc) CPUs, load: $(cut -d' ' -f1-3 /proc/loadavg)"
rcpu() { r INFO cpu | awk -F: '/^used_cpu_(sys|user):/ {s += $2} END {printf "%.3f", s}'; }
for W in 1 2 4 8; do
  r FLUSHALL >/dev/null
  VODQ_BIN=$BIN bash "$here/preload.sh" "$port" "$N" "$Q"
  c0=$(rcpu)
  wpids=()
  for i in $(seq "$W"); do
    "$BIN/vodq-worker" --redis "$URL" --queue "$Q" --id "w$i" --slots-sleep 50 --slots-compose 0 \
      --slots-upload 0 --log-level error &
    wpids+=($!)
  done
  for _ in $(seq 60000); do [ "$(r HGET "vodq:{$Q}:stats" succeeded)" = "$N" ] && break; sleep 0.01; done
  c1=$(rcpu)
  kill "${wpids[@]}"; wait "${wpids[@]}" 2>/dev/null || true
  wpids=()
  python3 - "$port" "$N" "$Q" "$W" "$c0" "$c1" <<'PY' | tee -a "$dir/rows"
import subprocess, sys
port, n, q, w, c0, c1 = sys.argv[1], int(sys.argv[2]), sys.argv[3], int(sys.argv[4]), float(sys.argv[5]), float(sys.argv[6])
cmds = ''.join('HMGET vodq:{%s}:job:b%06d started_at finished_at\n' % (q, i) for i in range(n))
vals = subprocess.run(['redis-cli', '-p', port], input=cmds, capture_output=True, text=True).stdout.split('\n')
st = [int(vals[2*i]) for i in range(n) if vals[2*i]]
fi = [int(vals[2*i+1]) for i in range(n) if vals[2*i+1]]
if len(fi) != n:
    sys.exit('only %d of %d finished' % (len(fi), n))
secs = max(max(fi) - min(st), 1) / 1000.0
# Redis CPU over the whole run (start-up included), as a share of the steady-state time
print('workers %d: %.0f jobs/s, redis CPU %.0f%%' % (w, n / secs, min(999, (c1 - c0) / secs * 100)))
PY
done
python3 - "$dir/rows" <<'PY'
import re, sys
rows = [re.match(r'workers (\d+): (\d+) jobs/s, redis CPU (\d+)%', l) for l in open(sys.argv[1])]
rows = [(int(m[1]), int(m[2]), int(m[3])) for m in rows if m]
sat = None
for i, (w, j, cpu) in enumerate(rows):
    if cpu >= 90 or (i and j < rows[i - 1][1] * 1.10):
        sat = (w, j, cpu)
        break
if sat is None:
    print('throughput still grows at %d workers: Redis not saturated' % rows[-1][0])
elif sat[2] >= 90:
    print('redis saturates at %d worker(s): %d jobs/s, Redis CPU %d%%' % sat)
else:
    print('throughput stops growing at %d worker(s) (%d jobs/s) with Redis CPU at %d%%: the '
          'limit is this machine\'s CPUs, not Redis' % sat)
print('ratio %.2f' % (rows[-1][1] / rows[0][1]))
PY
