#!/bin/bash
# The scheduler's HTTP API: bearer tokens (401/403), the body limit (413 before
# the body is read), the non-loopback refusal, IPv6 and host-name addresses,
# masked credentials, and every request within 2 s while Redis hangs or is gone.
. "$VODQ_TESTS/lib.sh"
redis_start
ADMIN=tok-admin-$(head -c 12 /dev/urandom | od -An -tx1 | tr -d ' \n')
READ=tok-read-$(head -c 12 /dev/urandom | od -An -tx1 | tr -d ' \n')
printf '# tokens\nadmin %s\nread %s\n' "$ADMIN" "$READ" >"$T_DIR/tokens"
chmod 600 "$T_DIR/tokens"
P=$(free_port)
U="http://127.0.0.1:$P"
start_scheduler s1 --http "127.0.0.1:$P" --http-token-file "$T_DIR/tokens" --max-spec-bytes 4096
wait_for 10 curl -sf -o /dev/null "$U/livez" || not_ok "scheduler http did not come up"
code() { curl -s -o "$T_DIR/body" -w '%{http_code}' -m 5 "$@"; }
spec='{"type":"sleep","sleep":{"ms":1}}'

expect_eq "POST /jobs without a token: 401" 401 "$(code -X POST -d "$spec" "$U/jobs")"
check "401 has a JSON error body" python3 -c 'import json,sys; assert json.load(open(sys.argv[1]))["error"]' "$T_DIR/body"
expect_eq "a wrong token: 401" 401 "$(code -X POST -H "Authorization: Bearer ${ADMIN}x" -d "$spec" "$U/jobs")"
expect_eq "a token prefix: 401" 401 "$(code -X POST -H "Authorization: Bearer ${ADMIN:0:10}" -d "$spec" "$U/jobs")"
expect_eq "basic auth scheme: 401" 401 "$(code -X POST -u "admin:$ADMIN" -d "$spec" "$U/jobs")"
expect_eq "read token on POST: 403" 403 "$(code -X POST -H "Authorization: Bearer $READ" -d "$spec" "$U/jobs")"
check "403 has a JSON error body" grep -q '"error"' "$T_DIR/body"
expect_eq "admin token submits: 202" 202 "$(code -X POST -H "Authorization: Bearer $ADMIN" -d "$spec" "$U/jobs")"
id=$(python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["id"])' "$T_DIR/body")
expect_eq "GET /jobs/<id> without a token: 401" 401 "$(code "$U/jobs/$id")"
expect_eq "GET /jobs/<id> with the read token: 200" 200 "$(code -H "Authorization: Bearer $READ" "$U/jobs/$id")"
expect_eq "/metrics without a token: 401" 401 "$(code "$U/metrics")"
expect_eq "/metrics with the read token: 200" 200 "$(code -H "Authorization: Bearer $READ" "$U/metrics")"
expect_eq "/livez is open" 200 "$(code "$U/livez")"
wait_for 5 eval 'test "$(code "$U/readyz")" = 200' && ok "/readyz 200 with Redis up" || not_ok "/readyz with Redis up"
expect_eq "an invalid spec: 400" 400 "$(code -X POST -H "Authorization: Bearer $ADMIN" -d '{"type":"sleep","sleep":{"ms":-5}}' "$U/jobs")"
check "400 names the bad field" grep -q 'sleep.ms' "$T_DIR/body"

# 413 from Content-Length, before the body is sent: curl waits for 100-continue
head -c 100000 /dev/zero | tr '\0' 'a' >"$T_DIR/big"
t0=$(date +%s%N)
expect_eq "a body over --max-spec-bytes: 413" 413 "$(code -X POST -H "Authorization: Bearer $ADMIN" -H 'Expect: 100-continue' --expect100-timeout 30 --data-binary @"$T_DIR/big" "$U/jobs")"
t1=$(date +%s%N)
check "413 came without waiting for the body ($(( (t1 - t0) / 1000000 )) ms)" test $(( (t1 - t0) / 1000000 )) -lt 2000
expect_eq "a chunked body over the limit: 413" 413 "$(code -X POST -H "Authorization: Bearer $ADMIN" -H 'Transfer-Encoding: chunked' --data-binary @"$T_DIR/big" "$U/jobs")"
expect_eq "unknown path: 404" 404 "$(code "$U/nope")"
expect_eq "wrong method: 405" 405 "$(code -X DELETE -H "Authorization: Bearer $ADMIN" "$U/jobs")"

# an unparseable spec's secret never comes back (submitted straight to the stream)
rcli XADD 'vodq:{default}:submit' '*' id leaky spec '{"type":"upload","upload":{"s3":{"secret_key":"SEKRET-123456"}' >/dev/null
wait_state leaky rejected 10 || true
code -H "Authorization: Bearer $READ" "$U/jobs/leaky" >/dev/null
check "GET /jobs of an unparseable spec hides its secret_key" bash -c "! grep -q SEKRET-123456 '$T_DIR/body'"
check "vodqctl status --json hides it" bash -c "! $VODQ_BIN/vodqctl --redis $REDIS_URL status leaky --json | grep -q SEKRET-123456"
check "vodqctl list --json hides it" bash -c "! $VODQ_BIN/vodqctl --redis $REDIS_URL list --json | grep -q SEKRET-123456"
check "but shows the masked key" bash -c "$VODQ_BIN/vodqctl --redis $REDIS_URL status leaky --json | grep -q 'secret_key'"
# a job hash written before masking existed (raw text) is masked when shown
rcli HSET 'vodq:{default}:job:old' state rejected spec '{"s3":{"secret_key":"OLD-SEKRET"' >/dev/null
check "an old unmasked hash is masked on display" bash -c "! $VODQ_BIN/vodqctl --redis $REDIS_URL status old --json | grep -q OLD-SEKRET"
check "the rejected spec in Redis holds no secret" bash -c "! redis-cli -p $REDIS_PORT HGET 'vodq:{default}:job:leaky' spec | grep -q SEKRET"

# every request within 2 s while Redis hangs (SIGSTOP) and after it is gone
timed() { # timed DESCRIPTION ARGS...: the request completes (any status) within 2 s
  local d=$1 t; shift
  t=$(curl -s -o /dev/null -w '%{time_total}' -m 5 "$@")
  check "$d within 2 s (${t}s)" awk -v t="$t" 'BEGIN { exit !(t < 2.0) }'
}
kill -STOP "$REDIS_PID"
sleep 1.5
for round in stopped killed; do
  timed "/metrics, Redis $round" -H "Authorization: Bearer $READ" "$U/metrics"
  timed "/readyz, Redis $round" "$U/readyz"
  timed "/livez, Redis $round" "$U/livez"
  timed "GET /jobs/<id>, Redis $round" -H "Authorization: Bearer $READ" "$U/jobs/$id"
  timed "POST /jobs, Redis $round" -X POST -H "Authorization: Bearer $ADMIN" -d "$spec" "$U/jobs"
  # the REST API under the dashboard (scheduler/api.c)
  for p in /jobs /api/queues /workers /dead "/jobs/$id/events" "/events?job=$id"; do
    timed "GET $p, Redis $round" -H "Authorization: Bearer $READ" "$U$p"
  done
  timed "POST /jobs/<id>/pause, Redis $round" -X POST -H "Authorization: Bearer $ADMIN" "$U/jobs/$id/pause"
  # several at once
  pids=()
  for i in 1 2 3 4 5 6; do
    curl -s -o /dev/null -w '%{time_total}\n' -m 5 -X POST -H "Authorization: Bearer $ADMIN" -d "$spec" "$U/jobs" >"$T_DIR/par.$i" & pids+=($!)
  done
  wait "${pids[@]}"
  check "6 concurrent POSTs within 2 s, Redis $round" awk '$1 >= 2.0 { bad = 1 } END { exit bad }' "$T_DIR"/par.*
  # the poller notices a hung server within its ping timeout plus one period
  # (about 2 s) and a dead one at once; give it up to 4 s on a loaded machine
  for _ in $(seq 40); do
    [ "$(code "$U/readyz")" = 503 ] && break
    sleep 0.1
  done
  curl -s -m 5 -H "Authorization: Bearer $READ" "$U/metrics" >"$T_DIR/metrics.$round"
  check "vodq_up 0 while Redis is $round" grep -q '^vodq_up{queue="default"} 0$' "$T_DIR/metrics.$round"
  check "the last good scrape is served, Redis $round" grep -q '^vodq_stream_length{queue="default",type="sleep"} [0-9]' "$T_DIR/metrics.$round"
  check "no gauge reads -1, Redis $round" bash -c "! grep -q ' -1$' '$T_DIR/metrics.$round'"
  expect_eq "/readyz 503, Redis $round" 503 "$(code "$U/readyz")"
  if [ $round = stopped ]; then kill -CONT "$REDIS_PID"; kill "$REDIS_PID"; wait "$REDIS_PID" 2>/dev/null || true; sleep 1.5; fi
done
check "no token in the scheduler log" bash -c "! grep -q -e '$ADMIN' -e '$READ' '$T_DIR/s1.log'"

# listening: non-loopback refused without tokens (exit 2), allowed with --http-insecure;
# IPv6 and host names
P2=$(free_port)
"$VODQ_BIN/vodq-scheduler" --redis "$REDIS_URL" --http "0.0.0.0:$P2" >"$T_DIR/open.log" 2>&1 &
op=$!
t=0; while kill -0 $op 2>/dev/null && [ $t -lt 50 ]; do sleep 0.1; t=$((t + 1)); done
rc=0; wait $op || rc=$?
expect_eq "0.0.0.0 without a token file exits 2" 2 "$rc"
check "and says why" grep -q 'http-token-file' "$T_DIR/open.log"
start_scheduler s2 --http "0.0.0.0:$P2" --http-insecure
check "--http-insecure serves 0.0.0.0" wait_for 5 curl -sf -o /dev/null "http://127.0.0.1:$P2/livez"
check "and warns" wait_for 3 grep -q 'WITHOUT authentication' "$T_DIR/s2.log"
if python3 -c 'import socket; s=socket.socket(socket.AF_INET6); s.bind(("::1",0))' 2>/dev/null; then
  P3=$(free_port)
  start_scheduler s3 --http "[::1]:$P3"
  check "[::1]:PORT serves over IPv6" wait_for 5 curl -sf -o /dev/null "http://[::1]:$P3/livez"
else
  ok "# skip: no IPv6 loopback here"
fi
P4=$(free_port)
chmod 644 "$T_DIR/tokens"
start_scheduler s4 --http "localhost:$P4" --http-token-file "$T_DIR/tokens"
check "localhost:PORT serves" wait_for 5 curl -sf -o /dev/null "http://localhost:$P4/livez"
check "a world-readable token file is warned about" wait_for 3 grep -q 'readable by other users' "$T_DIR/s4.log"
check "no token in that log either" bash -c "! grep -q -e '$ADMIN' -e '$READ' '$T_DIR/s4.log'"
printf 'admin short\n' >"$T_DIR/badtokens"
"$VODQ_BIN/vodq-scheduler" --redis "$REDIS_URL" --http "127.0.0.1:$(free_port)" --http-token-file "$T_DIR/badtokens" >"$T_DIR/bad.log" 2>&1 && rc=0 || rc=$?
expect_eq "a too-short token is refused at start" 2 "$rc"
check "naming the file and line" grep -q 'badtokens:1' "$T_DIR/bad.log"
check "without echoing the token" bash -c "! grep -q short '$T_DIR/bad.log'"
# the worker's --http: the same server, tokens and loopback rule (issue 10)
chmod 600 "$T_DIR/tokens"
WP=$(free_port)
start_worker w1 --slots-compose 0 --slots-upload 0 --slots-sleep 1 --http "127.0.0.1:$WP" --http-token-file "$T_DIR/tokens"
check "worker /livez needs no token" wait_for 5 curl -sf -o /dev/null "http://127.0.0.1:$WP/livez"
expect_eq "worker /metrics without a token: 401" 401 "$(curl -s -o /dev/null -w '%{http_code}' "http://127.0.0.1:$WP/metrics")"
check "worker /metrics with a read token" bash -c "curl -sf -H 'Authorization: Bearer $READ' 'http://127.0.0.1:$WP/metrics' | grep -q '^vodq_worker_slots{worker=\"w1\"'"
"$VODQ_BIN/vodq-worker" --redis "$REDIS_URL" --id w2 --http "0.0.0.0:$(free_port)" >"$T_DIR/wopen.log" 2>&1 && rc=0 || rc=$?
expect_eq "worker on 0.0.0.0 without a token file exits 2" 2 "$rc"
check "and says why" grep -q 'http-token-file' "$T_DIR/wopen.log"
t_done
