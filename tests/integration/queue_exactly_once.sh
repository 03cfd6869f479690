#!/bin/bash
# 2 schedulers and 2 workers run 2,000 sleep tasks: each completes exactly once,
# and no submission is dispatched twice by the two schedulers.
. "$VODQ_TESTS/lib.sh"
N=${N:-2000}
redis_start
start_scheduler s1
start_scheduler s2
start_worker w1 --slots-sleep 8
start_worker w2 --slots-sleep 8
sleep 0.3
python3 - "$N" > "$T_DIR/submit.resp" <<'PY'
import sys
out = sys.stdout.buffer
for i in range(int(sys.argv[1])):
    spec = '{"id":"j%05d","type":"sleep","sleep":{"ms":%d}}' % (i, i % 7)
    args = ['XADD', 'vodq:{default}:submit', '*', 'id', 'j%05d' % i, 'spec', spec]
    out.write(('*%d\r\n' % len(args) + ''.join('$%d\r\n%s\r\n' % (len(a), a) for a in args)).encode())
PY
rcli --pipe < "$T_DIR/submit.resp" > /dev/null
all_done() { [ "$(rcli HGET 'vodq:{default}:stats' succeeded)" = "$N" ]; }
check "all $N jobs succeed" wait_for 120 all_done
sleep 1 # anything done twice would show up now
rcli XRANGE 'vodq:{default}:events' - + > "$T_DIR/events.txt"
python3 - "$T_DIR/events.txt" "$N" > "$T_DIR/count.txt" <<'PY'
import sys, collections
lines = [l.rstrip('\n') for l in open(sys.argv[1])]
n = int(sys.argv[2])
# XRANGE output: id, then field/value lines: job X type Y state Z data D ts T
succ, queued, active = collections.Counter(), collections.Counter(), collections.Counter()
i = 0
while i < len(lines):
    if lines[i] == 'job' and i + 5 < len(lines):
        job, typ, state = lines[i+1], lines[i+3], lines[i+5]
        if typ == 'state':
            {'succeeded': succ, 'queued': queued, 'active': active}.get(state, collections.Counter())[job] += 1
        i += 6
    else:
        i += 1
print(len(succ), sum(1 for v in succ.values() if v != 1), sum(1 for v in queued.values() if v != 1), sum(1 for v in active.values() if v != 1))
PY
read -r jobs_succ dup_succ dup_queued dup_active < "$T_DIR/count.txt"
expect_eq "succeeded events for $N distinct jobs" "$N" "$jobs_succ"
expect_eq "no job completed twice" "0" "$dup_succ"
expect_eq "no submission dispatched twice (one queued event each)" "0" "$dup_queued"
expect_eq "no task started twice" "0" "$dup_active"
hashes=$(rcli --scan --pattern 'vodq:{default}:job:j*' | wc -l)
expect_eq "$N job hashes" "$N" "$hashes"
attempts_not_one=$(for i in $(seq 0 $((N-1))); do printf 'HGET vodq:{default}:job:j%05d attempts\n' "$i"; done | rcli | grep -vc '^1$' || true)
expect_eq "every job took one attempt" "0" "$attempts_not_one"
w1n=$(grep -c . <(rcli XRANGE 'vodq:{default}:events' - + | grep -A0 -x '{"attempt":1,"worker":"w1"}') || true)
w2n=$(grep -c . <(rcli XRANGE 'vodq:{default}:events' - + | grep -A0 -x '{"attempt":1,"worker":"w2"}') || true)
check "both workers did work (w1 $w1n, w2 $w2n)" test "$w1n" -gt 0 -a "$w2n" -gt 0
expect_eq "no task waits or runs, no submission waits" "0 0 0" \
  "$(lane_depth 'vodq:{default}:tasks:sleep') $(rcli XLEN 'vodq:{default}:submit')"
# finished entries are only acknowledged; the schedulers trim them each second in whole
# stream nodes (at most one node, <= 100 entries, stays)
short_stream() { [ "$(rcli XLEN 'vodq:{default}:tasks:sleep')" -le 100 ]; }
check "the $N finished task entries are trimmed ($(rcli XLEN 'vodq:{default}:tasks:sleep') left at first)" \
  wait_for 5 short_stream
t_done
