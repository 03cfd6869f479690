#!/bin/bash
# Webhooks, removal over HTTP and retention (issue 15 items 6 and 7): notify_url checked
# at submit; on success, death and cancel the scheduler POSTs the job (credentials
# masked) signed with HMAC-SHA256 (X-Vodq-Signature, verified here with Python's hmac),
# retries with backoff, records each attempt as an event; hosts outside --webhook-allow
# are never called; two schedulers make one delivery sequence per job end; a delivery
# queued while no scheduler runs is sent after a restart; DELETE /jobs/{id}; per type/state
# retention (--retention).
. "$VODQ_TESTS/lib.sh"
redis_start
P='vodq:{default}:'
SECRET=whsec-$(head -c 16 /dev/urandom | od -An -tx1 | tr -d ' \n')
echo "$SECRET" >"$T_DIR/secret"
chmod 600 "$T_DIR/secret"
ADMIN=tok-admin-$(head -c 12 /dev/urandom | od -An -tx1 | tr -d ' \n')
READ=tok-read-$(head -c 12 /dev/urandom | od -An -tx1 | tr -d ' \n')
printf 'admin %s\nread %s\n' "$ADMIN" "$READ" >"$T_DIR/tokens"
chmod 600 "$T_DIR/tokens"
HOOKLOG=$T_DIR/hooks.jsonl
: >"$HOOKLOG"
python3 "$VODQ_TESTS/webhook_server.py" "$T_DIR/hookport" "$HOOKLOG" 2 &
T_PIDS+=("$!")
wait_for 10 test -s "$T_DIR/hookport" || not_ok "webhook receiver did not start"
HP=$(cat "$T_DIR/hookport")
HURL="http://127.0.0.1:$HP/hook"
HTTP_PORT=$(free_port)
U="http://127.0.0.1:$HTTP_PORT"
SARGS=(--webhook-allow 127.0.0.1 --webhook-secret-file "$T_DIR/secret" --webhook-backoff-ms 200
  --retention "sleep:succeeded=1h,*:cancelled=600" --tick-ms 50)

# ---- configuration errors --------------------------------------------------------------
set +e
err=$("$VODQ_BIN/vodq-scheduler" --redis "$REDIS_URL" --webhook-allow 127.0.0.1 2>&1); rc=$?
set -e
check "--webhook-allow without a secret: exit 2 ($err)" test "$rc" = 2 -a -n "$(grep -F -- --webhook-secret-file <<<"$err")"
set +e
err=$("$VODQ_BIN/vodq-scheduler" --redis "$REDIS_URL" --retention "sleep:done=1h" 2>&1); rc=$?
set -e
check "--retention with a bad state: exit 2 ($err)" test "$rc" = 2 -a -n "$(grep -F "state must be" <<<"$err")"

start_scheduler s1 "${SARGS[@]}" --http "127.0.0.1:$HTTP_PORT" --http-token-file "$T_DIR/tokens"
start_scheduler s2 "${SARGS[@]}"
start_worker w1 --slots-sleep 8 --slots-compose 0 --slots-upload 0
wait_for 10 curl -sf -o /dev/null "$U/livez" || not_ok "scheduler http did not come up"

# ---- notify_url is checked at submit ----------------------------------------------------
rej() { # rej DESCRIPTION TEXT SPEC
  set +e; err=$(echo "$3" | ctl submit - 2>&1 >/dev/null); rc=$?; set -e
  check "$1: rejected, '$2' ($err)" test "$rc" = 1 -a -n "$(grep -F -- "$2" <<<"$err")"
}
rej "ftp URL" "notify_url: must start with http:// or https://" \
  '{"type":"sleep","sleep":{"ms":1},"notify_url":"ftp://127.0.0.1/x"}'
rej "credentials in the URL" "must not carry credentials" \
  '{"type":"sleep","sleep":{"ms":1},"notify_url":"http://u:p@127.0.0.1/x"}'
rej "in a then child" "then[0]: notify_url is for submitted jobs only" \
  '{"type":"sleep","sleep":{"ms":1},"then":[{"type":"sleep","sleep":{"ms":1},"notify_url":"http://127.0.0.1/"}]}'

# ---- success: two failed attempts (the receiver answers 500 twice), then delivered ----
echo "{\"id\":\"hk1\",\"type\":\"sleep\",\"sleep\":{\"ms\":10},\"notify_url\":\"$HURL?j=hk1\",\"meta\":{\"api_token\":\"sekrit-value\"}}" | ctl submit - >/dev/null
check "hk1 succeeded" wait_state hk1 succeeded 20
hooks_for() { python3 -c '
import json, sys
n = 0
for l in open(sys.argv[1]):
    r = json.loads(l)
    if json.loads(r["body"])["job"]["id"] == sys.argv[2]: n += 1
print(n)' "$HOOKLOG" "$1"; }
check "hk1: three POSTs (500, 500, 200)" wait_for 30 eval 'test "$(hooks_for hk1)" = 3'
ev_of() { # ev_of JOB TYPE: the data of JOB's events of TYPE, one per line
  rcli EVAL "local out = {} for _,e in ipairs(redis.call('XRANGE',KEYS[1],'-','+')) do local f=e[2] local j,t,d for i=1,#f,2 do if f[i]=='job' then j=f[i+1] elseif f[i]=='type' then t=f[i+1] elseif f[i]=='data' then d=f[i+1] end end if j==ARGV[1] and t==ARGV[2] then out[#out+1]=d end end return out" 1 "${P}events" "$1" "$2"
}
wait_for 10 eval 'test "$(ev_of hk1 webhook | wc -l)" = 3' || true
outcomes=$(ev_of hk1 webhook | python3 -c 'import json,sys; print(" ".join("%s/%s/%s" % (d["attempt"], d["outcome"], d["status"]) for d in map(json.loads, sys.stdin)))')
expect_eq "hk1: each attempt recorded as a webhook event" "1/retry/500 2/retry/500 3/sent/200" "$outcomes"
check "hk1: retries waited (retry_in_ms in the events)" \
  test -n "$(ev_of hk1 webhook | grep retry_in_ms)"
python3 - "$HOOKLOG" "$SECRET" hk1 <<'PY' >"$T_DIR/verify.out" 2>&1 && ok "hk1: every POST verifies (HMAC-SHA256 of t.body, fresh t), same delivery id, attempts 1-3, event succeeded, path kept" || not_ok "hk1: verification: $(cat "$T_DIR/verify.out")"
import json, sys, time
sys.path.insert(0, __import__("os").environ["VODQ_TESTS"])
from webhook_server import verify
log, secret, job = sys.argv[1:4]
rows = [r for r in map(json.loads, open(log)) if json.loads(r["body"])["job"]["id"] == job]
assert len(rows) == 3, rows
ids = set()
for i, r in enumerate(rows):
    h = {k.lower(): v for k, v in r["headers"].items()}
    assert verify(secret, h["x-vodq-signature"], r["body"].encode(), now=time.time()), h
    assert not verify(secret + "x", h["x-vodq-signature"], r["body"].encode())
    assert not verify(secret, h["x-vodq-signature"], r["body"].encode() + b" ")
    b = json.loads(r["body"])
    assert b["event"] == "succeeded" and b["attempt"] == i + 1, b
    assert b["job"]["state"] == "succeeded" and b["job"]["result"]["slept_ms"] == 10, b
    assert b["delivery"] == h["x-vodq-delivery"]
    assert r["path"] == "/hook?j=" + job, r["path"]
    ids.add(b["delivery"])
assert len(ids) == 1, ids
PY
check "hk1: the credential in the spec is masked in the POST" \
  test -z "$(grep sekrit-value "$HOOKLOG")" -a -n "$(grep -F '"api_token\":\"***\"' "$HOOKLOG")"
expect_eq "hk1: the delivery's keys are gone" "0" "$(rcli ZCARD "${P}hooks")"

# ---- cancel and death ---------------------------------------------------------------------
echo "{\"id\":\"hk2\",\"type\":\"sleep\",\"sleep\":{\"ms\":10},\"delay_ms\":600000,\"notify_url\":\"$HURL\"}" | ctl submit - >/dev/null
check "hk2 delayed" wait_state hk2 delayed 10
ctl cancel hk2 >/dev/null
echo "{\"id\":\"hk3\",\"type\":\"sleep\",\"max_attempts\":1,\"sleep\":{\"ms\":1,\"fail_times\":1,\"permanent\":true},\"notify_url\":\"$HURL\"}" | ctl submit - >/dev/null
check "hk3 dead" wait_state hk3 dead 20
check "hk2 (cancelled) delivered" wait_for 20 eval 'test "$(hooks_for hk2)" = 1'
check "hk3 (dead) delivered" wait_for 20 eval 'test "$(hooks_for hk3)" = 1'
expect_eq "events named by the end" "cancelled dead" "$(python3 -c '
import json, sys
e = {}
for l in open(sys.argv[1]):
    b = json.loads(json.loads(l)["body"]); e[b["job"]["id"]] = b["event"]
print(e["hk2"], e["hk3"])' "$HOOKLOG")"

# ---- a host outside --webhook-allow is never called ----------------------------------------
before=$(wc -l <"$HOOKLOG")
echo "{\"id\":\"hk4\",\"type\":\"sleep\",\"sleep\":{\"ms\":1},\"notify_url\":\"http://localhost:$HP/hook\"}" | ctl submit - >/dev/null
check "hk4 succeeded" wait_state hk4 succeeded 20
check "hk4: the attempt failed, naming the allow list" wait_for 20 \
  bash -c "redis-cli -p $REDIS_PORT XRANGE '${P}events' - + | grep -q 'not in --webhook-allow'"
expect_eq "hk4: nothing was sent" "$before" "$(wc -l <"$HOOKLOG")"
expect_eq "hk4: one attempt only" 1 "$(ev_of hk4 webhook | wc -l)"

# ---- many jobs, two schedulers: one delivery each -------------------------------------------
for i in $(seq 1 30); do
  echo "{\"id\":\"m$i\",\"type\":\"sleep\",\"sleep\":{\"ms\":1},\"notify_url\":\"$HURL\"}"
done | ctl submit --bulk - >/dev/null
check "30 jobs succeeded" wait_for 30 all_state succeeded $(seq -f 'm%g' 1 30)
check "30 deliveries arrived" wait_for 30 eval 'test "$(grep -c "\"m[0-9]" "$HOOKLOG")" -ge 30'
sleep 2
expect_eq "exactly one POST per job end" 30 "$(python3 -c '
import json, sys
ids = [json.loads(json.loads(l)["body"])["job"]["id"] for l in open(sys.argv[1])]
print(len([i for i in ids if i.startswith("m")]))' "$HOOKLOG")"
n=0; for i in $(seq 1 30); do n=$((n + $(ev_of "m$i" webhook | grep -c '"outcome":"sent"'))); done
expect_eq "one 'sent' webhook event per job" 30 "$n"

# ---- a delivery queued while no scheduler runs is sent after a restart ------------------------
echo "{\"id\":\"hk5\",\"type\":\"sleep\",\"sleep\":{\"ms\":3000},\"notify_url\":\"$HURL\"}" | ctl submit - >/dev/null
check "hk5 active" wait_state hk5 active 20
kill "$PID_s1" "$PID_s2"; wait "$PID_s1" "$PID_s2" 2>/dev/null || true
check "hk5 succeeded with no scheduler running" wait_state hk5 succeeded 20
expect_eq "hk5: its delivery waits in Redis" 1 "$(rcli ZCARD "${P}hooks")"
expect_eq "hk5: not sent yet" 0 "$(hooks_for hk5)"
start_scheduler s3 "${SARGS[@]}" --http "127.0.0.1:$HTTP_PORT" --http-token-file "$T_DIR/tokens"
check "hk5: delivered after the restart" wait_for 20 eval 'test "$(hooks_for hk5)" = 1'

# ---- retention ------------------------------------------------------------------------------
ttl1=$(rcli TTL "${P}job:hk1"); ttl2=$(rcli TTL "${P}job:hk2"); ttl3=$(rcli TTL "${P}job:hk3")
check "sleep:succeeded=1h ($ttl1 s)" test "$ttl1" -gt 3000 -a "$ttl1" -le 3600
check "*:cancelled=600 ($ttl2 s)" test "$ttl2" -gt 0 -a "$ttl2" -le 600
check "dead keeps --retention-s ($ttl3 s)" test "$ttl3" -gt 600000
expect_eq "the settings hash" "3600 600 10000" \
  "$(rcli HMGET "${P}settings" retention:sleep:succeeded retention:*:cancelled hooks_max | tr '\n' ' ' | sed 's/ $//')"

# ---- DELETE /jobs/{id} ------------------------------------------------------------------------
wait_for 10 curl -sf -o /dev/null "$U/livez" || not_ok "scheduler s3 http did not come up"
code() { curl -s -o "$T_DIR/body" -w '%{http_code}' -m 5 "$@"; }
expect_eq "DELETE without a token: 401" 401 "$(code -X DELETE "$U/jobs/hk1")"
expect_eq "DELETE with the read token: 403" 403 "$(code -X DELETE -H "Authorization: Bearer $READ" "$U/jobs/hk1")"
expect_eq "DELETE a finished job: 200" 200 "$(code -X DELETE -H "Authorization: Bearer $ADMIN" "$U/jobs/hk1")"
expect_eq "its answer" '{"id":"hk1","result":"removed"}' "$(cat "$T_DIR/body")"
expect_eq "the job hash is gone" 0 "$(rcli EXISTS "${P}job:hk1")"
expect_eq "DELETE again: 404" 404 "$(code -X DELETE -H "Authorization: Bearer $ADMIN" "$U/jobs/hk1")"
expect_eq "DELETE a bad id: 400" 400 "$(code -X DELETE -H "Authorization: Bearer $ADMIN" "$U/jobs/a%20b")"
echo '{"id":"run1","type":"sleep","sleep":{"ms":20000}}' | ctl submit - >/dev/null
check "run1 active" wait_state run1 active 20
expect_eq "DELETE a running job: 409" 409 "$(code -X DELETE -H "Authorization: Bearer $ADMIN" "$U/jobs/run1")"
check "409 names the reason" grep -q 'cancel it first' "$T_DIR/body"
expect_eq "run1 is still active" active "$(job_field run1 state)"
echo '{"id":"q1","type":"sleep","delay_ms":600000,"sleep":{"ms":1}}' | ctl submit - >/dev/null
check "q1 delayed" wait_state q1 delayed 10
expect_eq "DELETE a waiting (delayed) job: 200" 200 "$(code -X DELETE -H "Authorization: Bearer $ADMIN" "$U/jobs/q1")"
expect_eq "it left the delayed set" "" "$(rcli ZSCORE "${P}delayed" q1)"
check "/metrics: vodq_webhooks_pending is 0 once all were delivered" wait_for 10 bash -c \
  "curl -sf -H 'Authorization: Bearer $READ' $U/metrics | grep -q '^vodq_webhooks_pending{queue=\"default\"} 0$'"
ctl cancel run1 >/dev/null
t_done
