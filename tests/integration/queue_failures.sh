#!/bin/bash
# Retries with backoff, dead letters with the last error, retry; timeouts.
. "$VODQ_TESTS/lib.sh"
redis_start
start_scheduler s1 --tick-ms 50
start_worker w1 --slots-sleep 2

id=$(submit_sleep 5 '"max_attempts":3,"backoff":{"base_ms":400,"max_ms":10000}' | tail -1)
echo "{\"id\":\"ok-after-2\",\"type\":\"sleep\",\"sleep\":{\"ms\":5,\"fail_times\":2},\"max_attempts\":3,\"backoff\":{\"base_ms\":200}}" | ctl submit - >/dev/null
check "a job failing twice then passing succeeds" wait_state ok-after-2 succeeded 15
expect_eq "it took 3 attempts" "3" "$(job_field ok-after-2 attempts)"

echo '{"id":"always","type":"sleep","sleep":{"ms":5,"fail_times":100},"max_attempts":3,"backoff":{"base_ms":400,"max_ms":10000}}' | ctl submit - >/dev/null
check "an always-failing job goes dead" wait_state always dead 20
expect_eq "after max_attempts" "3" "$(job_field always attempts)"
err=$(job_field always error)
check "dead job keeps the last error ($err)" grep -q "failing attempt 3" <<<"$err"
# backoff: the delays between attempts grow (200-400 ms, then 400-800 ms)
rcli XRANGE 'vodq:{default}:events' - + > "$T_DIR/ev.txt"
python3 - "$T_DIR/ev.txt" > "$T_DIR/gaps.txt" <<'PY'
import sys, json
l = [x.rstrip('\n') for x in open(sys.argv[1])]
d = []
for i in range(len(l) - 7):
    if l[i] == 'job' and l[i+1] == 'always' and l[i+3] == 'state' and l[i+5] == 'delayed':
        d.append(json.loads(l[i+7])['retry_in_ms'])
print(' '.join(map(str, d)))
PY
read -r g1 g2 < "$T_DIR/gaps.txt"
check "first backoff in [200,400) ms: $g1" test "$g1" -ge 200 -a "$g1" -lt 400
check "second backoff in [400,800) ms: $g2" test "$g2" -ge 400 -a "$g2" -lt 800
dl=$(ctl dead list --json)
check "dead list shows it with its error" python3 -c "
import json,sys; a=json.loads(sys.argv[1]); j=[x for x in a if x['id']=='always']
assert len(j)==1 and 'failing attempt 3' in j[0]['error']" "$dl"
check "retry brings it back" ctl retry always
check "retried job runs again and dies again" wait_state always dead 20
expect_eq "retried job ran 3 more attempts" "3" "$(job_field always attempts)"
out=$(ctl retry "$id" 2>&1) && not_ok "retry of a non-dead job accepted" || ok "retry of a non-dead job refused: $out"

echo '{"id":"perm","type":"sleep","sleep":{"ms":1,"fail_times":5,"permanent":true},"max_attempts":5}' | ctl submit - >/dev/null
check "a permanent failure goes dead at once" wait_state perm dead 10
expect_eq "permanent failure: one attempt" "1" "$(job_field perm attempts)"

echo '{"id":"slow","type":"sleep","sleep":{"ms":60000},"timeout_ms":700,"max_attempts":2,"backoff":{"base_ms":100}}' | ctl submit - >/dev/null
check "a task past its timeout fails and finally goes dead" wait_state slow dead 20
expect_eq "timeout error code" "timeout" "$(job_field slow error_code)"
t_done
