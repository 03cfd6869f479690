#!/usr/bin/env bash
# Redis instructions per job of the worker's step.lua, counted (not timed): on a shared
# machine times drift 2-5x between minutes, instruction counts do not. N no-op jobs
# (default 2000) are preloaded once and saved as an RDB; then for the scripts of git
# revision REV (default HEAD) and for those of the working tree, a redis-server under
# `valgrind --tool=callgrind` loads that RDB and a small client drives step.lua at
# concurrency C (default 50) the way the worker's claim thread runs instant tasks (each
# call finishes the previous batch and claims the next). REV's step.lua runs as an EVAL
# script (as that revision's shared/proto.c made it); the working tree's as the workers run it,
# FCALL of the FUNCTION library that $VODQ_BIN/vodqctl prints (build it first).
# Prints instructions per job for each; the last line is `ratio <working tree / REV>`
# (below 1: the working tree is cheaper).
#   bash tests/bench/redis_ir.sh [N] [C] [REV]
# Needs valgrind (deploy/setup.sh installs it) and a built tree (the preload runs
# vodq-scheduler). About a minute per side at N=2000.
set -euo pipefail
here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
root=$(cd "$here/../.." && pwd)
N=${1:-2000}; C=${2:-50}; REV=${3:-HEAD}
BIN=${VODQ_BIN:-$root/build/bin}
command -v valgrind >/dev/null || { echo "redis_ir.sh: needs valgrind" >&2; exit 2; }
[ -x "$BIN/vodq-scheduler" ] || { echo "build first: cmake -B build && cmake --build build" >&2; exit 2; }
dir=$(mktemp -d)
pids=()
trap 'kill "${pids[@]}" 2>/dev/null; rm -rf "$dir"' EXIT
freeport() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
waitup() { for _ in $(seq 600); do redis-cli -p "$1" ping 2>/dev/null | grep -q PONG && return; sleep 0.1; done; echo "redis on $1 did not start" >&2; exit 1; }
echo "# N=$N C=$C REV=$REV load: $(cut -d' ' -f1-3 /proc/loadavg)"
mkdir "$dir/rdb"
port=$(freeport)
redis-server --port "$port" --bind 127.0.0.1 --save '' --appendonly no --dir "$dir/rdb" \
  --daemonize no --logfile "$dir/rdb/log" &
pids=($!)
waitup "$port"
VODQ_BIN=$BIN bash "$here/preload.sh" "$port" "$N" vodqbench
redis-cli -p "$port" SAVE >/dev/null
redis-cli -p "$port" SHUTDOWN NOSAVE >/dev/null 2>&1 || true
wait "${pids[0]}" 2>/dev/null || true
git -C "$root" show "$REV:shared/lua/common.lua" >"$dir/rev_common.lua"
git -C "$root" show "$REV:shared/lua/step.lua" >"$dir/rev_step.lua"
"$BIN/vodqctl" functions print >"$dir/wt_library.lua"
count() { # $1 = rev|wt: prints instructions per job
  local d="$dir/$1" p
  mkdir "$d"; cp "$dir/rdb/dump.rdb" "$d/"
  p=$(freeport)
  valgrind --tool=callgrind --callgrind-out-file="$d/cg.out" redis-server --port "$p" \
    --bind 127.0.0.1 --save '' --appendonly no --dir "$d" >/dev/null 2>"$d/vg.log" &
  local vp=$!
  pids=("$vp")
  waitup "$p"
  # the library is compiled before part 2 (the preload's RDB may hold it already)
  [ -f "$dir/${1}_library.lua" ] && redis-cli -p "$p" -x FUNCTION LOAD REPLACE <"$dir/${1}_library.lua" >/dev/null
  callgrind_control -d "$vp" >/dev/null 2>&1   # part 1: start-up, RDB load, FUNCTION LOAD
  python3 - "$p" "$dir/$1" "$C" "$N" <<'PY'
import os, re, socket, sys
port, base, c, n = int(sys.argv[1]), sys.argv[2], int(sys.argv[3]), int(sys.argv[4])
s = socket.create_connection(('127.0.0.1', port)); f = s.makefile('rb')
def enc(a):
    a = [x if isinstance(x, bytes) else str(x).encode() for x in a]
    return b'*%d\r\n' % len(a) + b''.join(b'$%d\r\n%s\r\n' % (len(x), x) for x in a)
def rd():
    l = f.readline(); t, v = l[:1], l[1:-2]
    if t == b'+': return v
    if t == b'-': sys.exit('redis: %s' % v.decode())
    if t == b':': return int(v)
    if t == b'$':
        k = int(v)
        if k < 0: return None
        d = f.read(k + 2); return d[:-2]
    if t == b'*':
        k = int(v)
        return None if k < 0 else [rd() for _ in range(k)]
def cmd(*a): s.sendall(enc(a)); return rd()
if os.path.exists(base + '_library.lua'):
    lib = open(base + '_library.lua').read()
    name = re.match(r'#!lua name=(\S+)', lib).group(1)
    call = ['FCALL', name + '_step']
else:
    common = open(base + '_common.lua').read()
    own = open(base + '_step.lua').read()
    if 'local function run(' in common:
        text = common + '\nreturn run(function()\n' + own + '\nend)\n'
    elif 'local function begin()' in common:
        text = common + '\nbegin()\n' + own
    else:
        text = common + '\n' + own
    call = ['EVALSHA', cmd('SCRIPT', 'LOAD', text).decode()]
q = 'vodq:{vodqbench}:'
done, seq, total = [], 0, 0
while total < n:
    seq += 1
    a = call + [1, q + 'stats', q, 100000, 604800, 'w1', 'sleep', c, 0, len(done)]
    for job, fence in done:
        a += [job, fence, 'ok', '{"slept_ms":0}', '', '', '0.500000', '']
    a += ['', 'irchan|%d' % seq]
    r = cmd(*a)
    total += len(done)
    done = [(m[m.index(b'job') + 1], m[m.index(b'fence') + 1]) for m in r[1]]
    if not done:
        break
if total != n:
    sys.exit('finished %d of %d jobs' % (total, n))
PY
  callgrind_control -d "$vp" >/dev/null 2>&1   # part 2: the step calls
  redis-cli -p "$p" SHUTDOWN NOSAVE >/dev/null 2>&1 || true
  wait "$vp" 2>/dev/null || true
  local ir
  ir=$(awk '/^summary:/ {print $2; exit}' "$d/cg.out.2")
  echo $((ir / N))
}
a=$(count rev); echo "$REV: $a Redis instructions per job"
b=$(count wt); echo "working tree: $b Redis instructions per job"
python3 -c "print('ratio %.3f' % ($b / $a))"
