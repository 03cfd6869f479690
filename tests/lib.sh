# tests/lib.sh: helpers for the integration, fault and bench scripts (bash).
# Source it: . "$VODQ_TESTS/lib.sh". Every server it starts listens on
# 127.0.0.1 only and is stopped by the EXIT trap.
set -euo pipefail

VODQ_SRC=${VODQ_SRC:-$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)}
VODQ_TESTS=${VODQ_TESTS:-$VODQ_SRC/tests}
VODQ_BIN=${VODQ_BIN:-$VODQ_SRC/build/bin}
# VODQ_WRAP: a prefix for our programs, e.g. "valgrind --error-exitcode=99 -q";
# VODQ_WRAP_WORKER: the same for vodq-worker (default: VODQ_WRAP)
VODQ_WRAP=${VODQ_WRAP:-}
VODQ_WRAP_WORKER=${VODQ_WRAP_WORKER-$VODQ_WRAP}

T_DIR=$(mktemp -d "${TMPDIR:-/tmp}/vodq-test.XXXXXX")
T_PIDS=()
T_FAILS=0
T_OKS=0

t_cleanup() {
  local pid
  for pid in "${T_PIDS[@]:-}"; do
    [ -n "$pid" ] && kill "$pid" 2>/dev/null || true
  done
  for pid in "${T_PIDS[@]:-}"; do
    [ -n "$pid" ] && { kill -0 "$pid" 2>/dev/null && sleep 0.2 && kill -9 "$pid" 2>/dev/null; } || true
  done
  if [ "${T_KEEP:-}" = 1 ] || [ "$T_FAILS" -gt 0 ]; then
    echo "# logs kept in $T_DIR" >&2
    for f in "$T_DIR"/*.log; do [ -f "$f" ] && { echo "# --- $f" >&2; tail -n 30 "$f" >&2; }; done
  else
    rm -rf "$T_DIR"
  fi
}
trap t_cleanup EXIT

ok() { T_OKS=$((T_OKS + 1)); echo "ok - $*"; }
not_ok() { T_FAILS=$((T_FAILS + 1)); echo "not ok - $*"; }
# check DESCRIPTION COMMAND...: ok when the command succeeds
check() { local d=$1; shift; if "$@"; then ok "$d"; else not_ok "$d"; fi; }
# expect_eq DESCRIPTION EXPECTED ACTUAL
expect_eq() { if [ "$2" = "$3" ]; then ok "$1"; else not_ok "$1 (expected '$2', got '$3')"; fi; }
t_done() {
  echo "$T_OKS passed, $T_FAILS failed"
  [ "$T_FAILS" -eq 0 ]
}

free_port() {
  python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1]); s.close()'
}

# redis_start [extra redis-server args...]: sets REDIS_PORT, REDIS_URL, REDIS_PID
redis_start() {
  REDIS_PORT=$(free_port)
  mkdir -p "$T_DIR/redis"
  redis-server --port "$REDIS_PORT" --bind 127.0.0.1 --dir "$T_DIR/redis" --save '' \
    --appendonly no --daemonize no --logfile "$T_DIR/redis.log" "$@" &
  REDIS_PID=$!
  T_PIDS+=("$REDIS_PID")
  REDIS_URL="redis://127.0.0.1:$REDIS_PORT"
  local i
  for i in $(seq 100); do
    redis-cli -p "$REDIS_PORT" ping >/dev/null 2>&1 && return 0
    sleep 0.05
  done
  echo "redis-server did not start" >&2
  return 1
}

rcli() { redis-cli -p "$REDIS_PORT" "$@"; }

# lane_depth KEY: "<waiting> <running>" of a task stream: its consumer group's lag and
# pending count (a finished task's entry stays until the scheduler trims it, so XLEN
# counts those too)
lane_depth() {
  rcli XINFO GROUPS "$1" | awk 'NR % 2 == 1 {k = $0; next} {v[k] = $0}
    END {print (v["lag"] == "" ? "?" : v["lag"]), (v["pending"] == "" ? "?" : v["pending"])}'
}

# lua SCRIPT RID ARGS...: runs shared/lua/SCRIPT.lua as the EVAL script shared/proto.c
# makes where Redis has no FUNCTION (`vodqctl functions eval`; the programs themselves
# run the same code as a FUNCTION library, so both ways are tested), on the queue whose key prefix is $Q (e.g. 'vodq:{default}:'), with request id RID
declare -A LUA_SHA
lua() {
  local name=$1 rid=$2; shift 2
  if [ -z "${LUA_SHA[$name]:-}" ]; then
    LUA_SHA[$name]=$("$VODQ_BIN/vodqctl" functions eval "$name" | rcli -x SCRIPT LOAD)
  fi
  rcli EVALSHA "${LUA_SHA[$name]}" 1 "${Q}stats" "$Q" 1000 3600 "$@" "$rid"
}

# start_proc NAME WRAP PROGRAM [args...]: PROGRAM from VODQ_BIN in the
# background with --redis and --id NAME, log in NAME.log, pid in PID_<NAME>
start_proc() {
  local name=$1 wrap=$2 prog=$3; shift 3
  $wrap "$VODQ_BIN/$prog" --redis "$REDIS_URL" --id "$name" "$@" >"$T_DIR/$name.log" 2>&1 &
  local pid=$!
  T_PIDS+=("$pid")
  printf -v "PID_$name" '%s' "$pid"
}
# start_scheduler NAME [args...] / start_worker NAME [args...]
start_scheduler() { local name=$1; shift; start_proc "$name" "$VODQ_WRAP" vodq-scheduler "$@"; }
start_worker() { local name=$1; shift; start_proc "$name" "$VODQ_WRAP_WORKER" vodq-worker "$@"; }

ctl() { $VODQ_WRAP "$VODQ_BIN/vodqctl" --redis "$REDIS_URL" "$@"; }

# job_field ID FIELD
job_field() { rcli HGET "vodq:{default}:job:$1" "$2"; }

# wait_state ID STATE TIMEOUT_S: waits until the job is in STATE
wait_state() {
  local id=$1 want=$2 t=${3:-10} i
  for i in $(seq $((t * 20))); do
    [ "$(job_field "$id" state)" = "$want" ] && return 0
    sleep 0.05
  done
  echo "# job $id: state $(job_field "$id" state), wanted $want" >&2
  return 1
}

# all_state STATE ID...: true when every job given is in STATE
all_state() {
  local want=$1 id; shift
  for id in "$@"; do [ "$(job_field "$id" state)" = "$want" ] || return 1; done
}

# wait_for TIMEOUT_S COMMAND...: polls until the command succeeds
wait_for() {
  local t=$1 i; shift
  for i in $(seq $((t * 20))); do
    "$@" && return 0
    sleep 0.05
  done
  return 1
}

submit_sleep() { # submit_sleep MS [extra top-level JSON fields]
  local extra=${2:-}
  echo "{\"type\":\"sleep\",\"sleep\":{\"ms\":$1}${extra:+,$extra}}" | ctl submit -
}

# s3_start BUCKET: starts the local S3 server (Swift + s3api, tests/s3-swift.sh)
# on a free port and creates BUCKET; sets EP (endpoint URL) and B (bucket).
# s3curl ARGS...: curl signed with SigV4 as test:tester (independent of our code).
s3curl() {
  curl -sS --netrc-file "$T_DIR/netrc" --aws-sigv4 aws:amz:us-east-1:s3 \
    -H x-amz-content-sha256:UNSIGNED-PAYLOAD "$@"
}
s3_start() {
  local pid
  pid=$(bash "$VODQ_TESTS/s3-swift.sh" start 0 "$T_DIR/swift")
  T_PIDS+=("$pid")
  EP=http://127.0.0.1:$(cat "$T_DIR/swift/port")
  B=$1
  printf 'machine 127.0.0.1 login test:tester password testing\n' >"$T_DIR/netrc"
  s3curl -f -X PUT "$EP/$B" >/dev/null
}

# oss_start: starts the OSS-protocol test server (tests/oss_server.py) in
# $T_DIR/oss with the STS key STS.qak / qsecret and token T1 (region
# cn-shanghai); sets OSSD and EP. Then: ossctl JSON (POST /__ctl/config),
# pystats EXPR (prints a Python expression of its stats `s`), auth TOKEN (a
# base64 VOD UploadAuth with that token), addr KEY (a base64 VOD
# UploadAddress for bucket outin-q).
oss_start() {
  OSSD=$T_DIR/oss; mkdir -p "$OSSD"
  /usr/bin/python3 "$VODQ_TESTS/oss_server.py" --dir "$OSSD" --port 0 --access-key STS.qak \
    --secret qsecret --token T1 --region cn-shanghai >"$T_DIR/oss.log" 2>&1 &
  T_PIDS+=($!)
  wait_for 10 test -s "$OSSD/port"
  EP=http://127.0.0.1:$(cat "$OSSD/port")
}
ossctl() { curl -sf -X POST -H 'Content-Type: application/json' -d "$1" "$EP/__ctl/config" >/dev/null; }
pystats() { curl -sf "$EP/__ctl/stats" | /usr/bin/python3 -c "import json,sys; s=json.load(sys.stdin); print($1)"; }
b64() { printf '%s' "$1" | base64 -w0; }
auth() { b64 "{\"AccessKeyId\":\"STS.qak\",\"AccessKeySecret\":\"qsecret\",\"SecurityToken\":\"$1\",\"Region\":\"cn-shanghai\",\"Expiration\":\"2099-01-01T00:00:00Z\"}"; }
addr() { b64 "{\"Endpoint\":\"$EP\",\"Bucket\":\"outin-q\",\"FileName\":\"$1\"}"; }
