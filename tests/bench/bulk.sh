#!/usr/bin/env bash
# Bulk submit benchmark (issue 15): `vodqctl submit --bulk` of N no-op specs (default
# 100000) into a redis-server started here, against redis-benchmark pipelining XADD of
# the same spec text to a stream (-P 100), on the same server, ROUNDS times alternated
# (default 3), medians reported. vodq's time covers reading the file, validating each
# spec and its three commands (HSETNX state, HSETNX created_at, XADD to the submit
# stream); no scheduler runs, so this is the rate of submission, not of creation.
# The last line is `ratio <vodq bulk jobs/s / redis-benchmark XADD/s>`.
#   bash tests/bench/bulk.sh [N] [ROUNDS]
set -euo pipefail
here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
N=${1:-100000}; ROUNDS=${2:-3}
VODQ_BIN=${VODQ_BIN:-$here/../../build/bin}
[ -x "$VODQ_BIN/vodqctl" ] || { echo "build first: cmake -B build && cmake --build build" >&2; exit 2; }
dir=$(mktemp -d); port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
redis-server --port "$port" --bind 127.0.0.1 --save '' --appendonly no --dir "$dir" --daemonize no --logfile "$dir/redis.log" &
rpid=$!
trap 'kill $rpid 2>/dev/null; rm -rf "$dir"' EXIT
for _ in $(seq 100); do redis-cli -p "$port" ping >/dev/null 2>&1 && break; sleep 0.05; done
spec='{"type":"sleep","sleep":{"ms":0}}'
for i in $(seq "$N"); do echo "$spec"; done >"$dir/specs.jsonl"
echo "# N=$N rounds=$ROUNDS redis 127.0.0.1:$port load: $(cut -d' ' -f1-3 /proc/loadavg)"
for r in $(seq "$ROUNDS"); do
  redis-cli -p "$port" FLUSHALL >/dev/null
  t0=$(date +%s.%N)
  "$VODQ_BIN/vodqctl" --redis "redis://127.0.0.1:$port" submit --bulk "$dir/specs.jsonl" >"$dir/ids"
  t1=$(date +%s.%N)
  got=$(redis-cli -p "$port" XLEN 'vodq:{default}:submit')
  [ "$got" = "$N" ] || { echo "vodq: $got of $N specs in the submit stream" >&2; exit 1; }
  v=$(python3 -c "print(round($N/($t1-$t0)))")
  echo "vodq bulk round $r: $v jobs/s" | tee -a "$dir/vodq"
  redis-cli -p "$port" FLUSHALL >/dev/null
  b=$(redis-benchmark -p "$port" -n "$N" -P 100 -c 1 -q XADD 'vodq:{default}:submit' '*' spec "$spec" \
    | tr '\r' '\n' | grep -o '[0-9.]* requests per second' | tail -1 | cut -d' ' -f1)
  echo "redis-benchmark XADD round $r: $b XADD/s" | tee -a "$dir/peer"
done
echo "# load after: $(cut -d' ' -f1-3 /proc/loadavg)"
python3 - "$dir" <<'PY'
import statistics, sys
d = sys.argv[1]
v = statistics.median(float(l.split()[-2]) for l in open(d + "/vodq"))
b = statistics.median(float(l.split()[-2]) for l in open(d + "/peer"))
print("median: vodq bulk %.0f jobs/s, redis-benchmark XADD %.0f/s" % (v, b))
print("ratio %.2f" % (v / b))
PY
