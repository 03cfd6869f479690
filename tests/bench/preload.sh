#!/usr/bin/env bash
# Preloads N no-op vodq tasks ({"type":"sleep","sleep":{"ms":0}}, ids b000000...) into
# queue Q on redis 127.0.0.1:PORT: XADDs them to the submit stream and runs a scheduler
# until all are queued (then stops it). Used by vodq_run.sh and scale.sh.
#   tests/bench/preload.sh PORT N Q
set -euo pipefail
PORT=${1:?port}; N=${2:?n}; Q=${3:?queue}
here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
BIN=${VODQ_BIN:-$here/../../build/bin}
r() { redis-cli -p "$PORT" "$@"; }
python3 - "$N" "$Q" <<'PY' | r --pipe >/dev/null
import sys
n, q = int(sys.argv[1]), sys.argv[2]
out = sys.stdout.buffer
for i in range(n):
    spec = '{"id":"b%06d","type":"sleep","sleep":{"ms":0}}' % i
    a = ['XADD', 'vodq:{%s}:submit' % q, '*', 'spec', spec]
    out.write(('*%d\r\n' % len(a) + ''.join('$%d\r\n%s\r\n' % (len(x), x) for x in a)).encode())
PY
"$BIN/vodq-scheduler" --redis "redis://127.0.0.1:$PORT" --queue "$Q" --log-level warn &
spid=$!
for _ in $(seq 6000); do
  [ "$(r XLEN "vodq:{$Q}:tasks:sleep")" = "$N" ] && break
  sleep 0.01
done
kill "$spid"; wait "$spid" 2>/dev/null || true
[ "$(r XLEN "vodq:{$Q}:tasks:sleep")" = "$N" ] || { echo "preload failed" >&2; exit 1; }
