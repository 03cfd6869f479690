#!/bin/bash
# Lost replies: a proxy between the worker and Redis cuts the connection after every
# 5th script call has reached Redis and run there, before the worker reads the answer.
# The worker sends the call again with the same request id; no job completes twice
# (succeeded events and stats), none is lost, and each took one attempt.
. "$VODQ_TESTS/lib.sh"
N=${N:-300}
redis_start
python3 "$VODQ_TESTS/redisproxy.py" "$T_DIR/proxy.port" "$REDIS_PORT" --cut-every 5 &
T_PIDS+=($!)
wait_for 10 test -s "$T_DIR/proxy.port"
PROXY_URL="redis://127.0.0.1:$(cat "$T_DIR/proxy.port")"
start_scheduler s1
# the worker talks to Redis only through the proxy
REDIS_URL=$PROXY_URL start_worker w1 --slots-sleep 4 --slots-compose 0 --slots-upload 0
REDIS_URL=$PROXY_URL start_worker w2 --slots-sleep 32 --slots-compose 0 --slots-upload 0
sleep 0.3
python3 - "$N" > "$T_DIR/submit.resp" <<'PY'
import sys
out = sys.stdout.buffer
for i in range(int(sys.argv[1])):
    spec = '{"id":"j%04d","type":"sleep","sleep":{"ms":%d}}' % (i, i % 4)
    args = ['XADD', 'vodq:{default}:submit', '*', 'spec', spec]
    out.write(('*%d\r\n' % len(args) + ''.join('$%d\r\n%s\r\n' % (len(a), a) for a in args)).encode())
PY
rcli --pipe < "$T_DIR/submit.resp" > /dev/null
all_done() { [ "$(rcli HGET 'vodq:{default}:stats' succeeded)" = "$N" ]; }
check "all $N jobs succeed through a lossy connection" wait_for 120 all_done
sleep 1
cuts=$(cat "$T_DIR/proxy.port.cuts" 2>/dev/null || echo 0)
check "the proxy cut connections after the request ran ($cuts cuts)" test "$cuts" -ge 10
expect_eq "stats: succeeded counted once per job" "$N" "$(rcli HGET 'vodq:{default}:stats' succeeded)"
rcli XRANGE 'vodq:{default}:events' - + | python3 -c '
import sys, collections
l = [x.rstrip("\n") for x in sys.stdin]
succ, act = collections.Counter(), collections.Counter()
for i in range(len(l) - 5):
    if l[i] == "job" and l[i+2] == "type" and l[i+3] == "state":
        (succ if l[i+5] == "succeeded" else act if l[i+5] == "active" else collections.Counter())[l[i+1]] += 1
print(len(succ), sum(v != 1 for v in succ.values()), sum(v != 1 for v in act.values()))
' > "$T_DIR/count.txt"
read -r jobs dup_succ dup_act < "$T_DIR/count.txt"
expect_eq "a succeeded event for every job" "$N" "$jobs"
expect_eq "no job completed twice" 0 "$dup_succ"
expect_eq "no job started twice" 0 "$dup_act"
att=$(for i in $(seq 0 $((N-1))); do printf 'HGET vodq:{default}:job:j%04d attempts\n' "$i"; done | rcli | grep -vc '^1$' || true)
expect_eq "every job took one attempt" 0 "$att"
expect_eq "no task waits or runs" "0 0" "$(lane_depth 'vodq:{default}:tasks:sleep')"
t_done
