#!/bin/bash
# Submit to completion, the vodqctl script contract, bad submissions.
. "$VODQ_TESTS/lib.sh"
redis_start
start_scheduler s1
start_worker w1 --slots-sleep 2 --slots-compose 0 --slots-upload 0

id=$(submit_sleep 200)
check "submit prints the job id alone" bash -c "[[ '$id' =~ ^[0-9a-z]{26}$ ]]"
check "job succeeds" wait_state "$id" succeeded 10
st=$(ctl status "$id" --json)
check "status --json has id/type/state/progress/attempts/error" python3 -c "
import json,sys; j=json.loads(sys.argv[1])
assert j['id']=='$id' and j['type']=='sleep' and j['state']=='succeeded'
assert j['progress']==100 and j['attempts']==1 and j['error']==''
" "$st"
check "watch of a finished job exits 0" timeout 30 "$VODQ_BIN/vodqctl" --redis "$REDIS_URL" watch "$id"

# a spec carrying its own id: submitting it twice creates one job
own='{"id":"dup-1","type":"sleep","sleep":{"ms":10}}'
a=$(echo "$own" | ctl submit -); b=$(echo "$own" | ctl submit -)
expect_eq "own id is kept" "dup-1" "$a"
check "resubmitted id succeeds" wait_state dup-1 succeeded 10
rcli XADD 'vodq:{default}:submit' '*' spec "$own" >/dev/null
sleep 0.5
expect_eq "same id three times: one attempt" "1" "$(job_field dup-1 attempts)"
n=$(rcli XRANGE 'vodq:{default}:events' - + | grep -c '^dup-1$' || true)
check "same id three times: one job's events" test "$n" -ge 2

# "then": a successful job creates its follow-up jobs, in its session
echo '{"id":"par","session":"s-1","type":"sleep","sleep":{"ms":5},"then":[{"type":"sleep","sleep":{"ms":5}},{"type":"sleep","sleep":{"ms":5},"max_attempts":7}]}' | ctl submit - >/dev/null
check "parent succeeds" wait_state par succeeded 10
check "first follow-up job runs" wait_state par.then1 succeeded 10
check "second follow-up job runs" wait_state par.then2 succeeded 10
expect_eq "follow-up keeps the session" "s-1" "$(job_field par.then1 session)"
expect_eq "follow-up keeps its own max_attempts" "7" "$(job_field par.then2 max_attempts)"
expect_eq "follow-up names its parent" "par" "$(job_field par.then1 parent)"
out=$(echo '{"type":"sleep","sleep":{"ms":1},"then":[{"type":"sleep","sleep":{"ms":-1}}]}' | ctl submit - 2>&1) || true
check "a bad follow-up is rejected naming then[0] ($out)" grep -q "then\[0\]: sleep.ms" <<<"$out"

# plain Redis integration: XADD a spec, the scheduler creates the job
rcli XADD 'vodq:{default}:submit' '*' spec '{"id":"raw-1","type":"sleep","sleep":{"ms":5}}' >/dev/null
check "raw XADD submission runs" wait_state raw-1 succeeded 10

# bad submissions each become a rejected job with a clear error
bad() { # bad NAME SPEC EXPECTED_SUBSTRING
  local eid
  eid=$(rcli XADD 'vodq:{default}:submit' '*' id "$1" spec "$2")
  if wait_state "$1" rejected 10; then
    local e; e=$(job_field "$1" error)
    if [[ "$e" == *"$3"* ]]; then ok "rejected $1: $e"; else not_ok "rejected $1: '$e' lacks '$3'"; fi
  else
    not_ok "$1 not rejected"
  fi
}
bad bad-json 'not json {' 'not valid JSON'
bad bad-type '{"type":"teleport","teleport":{}}' "type: unknown task type 'teleport'"
bad bad-missing '{"sleep":{"ms":1}}' 'type: missing'
bad bad-wrongtype '{"type":"sleep","sleep":{"ms":"ten"}}' 'sleep.ms: must be an integer'
bad bad-attempts '{"type":"sleep","sleep":{"ms":1},"max_attempts":0}' 'max_attempts: must be an integer'
bad bad-field '{"type":"sleep","sleep":{"ms":1},"colour":"red"}' 'colour: unknown field'
bad bad-upload '{"type":"upload","upload":{"file":"/x"}}' 'upload: needs a target'
big=$(python3 -c 'print("{\"type\":\"sleep\",\"sleep\":{\"ms\":1},\"meta\":\"" + "x"*10*1024*1024 + "\"}")')
printf '%s' "$big" > "$T_DIR/big.json"
python3 - "$REDIS_PORT" "$T_DIR/big.json" <<'PY'
import socket, sys
port, path = int(sys.argv[1]), sys.argv[2]
spec = open(path, 'rb').read()
args = [b'XADD', b'vodq:{default}:submit', b'*', b'id', b'bad-big', b'spec', spec]
cmd = b'*%d\r\n' % len(args) + b''.join(b'$%d\r\n%s\r\n' % (len(a), a) for a in args)
s = socket.create_connection(('127.0.0.1', port)); s.sendall(cmd); s.recv(100); s.close()
PY
if wait_state bad-big rejected 20; then
  e=$(job_field bad-big error)
  if [[ "$e" == *"over the limit"* ]]; then ok "10 MB payload rejected: $e"; else not_ok "10 MB payload: '$e'"; fi
  l=$(rcli HSTRLEN 'vodq:{default}:job:bad-big' spec)
  check "a rejected huge spec is not stored whole ($l bytes)" test "$l" -le 65536
else
  not_ok "10 MB payload not rejected"
fi
check "scheduler still running" kill -0 "$PID_s1"
id2=$(submit_sleep 10)
check "jobs still run after bad input" wait_state "$id2" succeeded 10

list=$(ctl list --state rejected --json)
check "list --state rejected --json is an array of rejected jobs" python3 -c "
import json,sys; a=json.loads(sys.argv[1]); assert isinstance(a,list) and len(a)>=8
assert all(j['state']=='rejected' and j['error'] for j in a)
" "$list"
out=$(ctl status nope 2>&1) && not_ok "status of an unknown job exits 0" || ok "status of an unknown job exits non-zero"
check "unknown job error names the job" grep -q "no such job: nope" <<<"$out"
check "vodqctl with a bad flag fails" bash -c "! $VODQ_BIN/vodqctl --bogus stats 2>/dev/null"
for p in vodq-worker vodq-scheduler vodqctl; do
  check "$p --help lists --redis" bash -c "$VODQ_BIN/$p --help | grep -q -- --redis"
done

kill -TERM "$PID_s1" "$PID_w1"
check "scheduler stops on SIGTERM" wait_for 30 bash -c "! kill -0 $PID_s1 2>/dev/null"
check "worker stops on SIGTERM" wait_for 30 bash -c "! kill -0 $PID_w1 2>/dev/null"
st=0; wait "$PID_s1" || st=$?; expect_eq "scheduler exit status after SIGTERM" 0 "$st"
st=0; wait "$PID_w1" || st=$?; expect_eq "worker exit status after SIGTERM" 0 "$st"
t_done
