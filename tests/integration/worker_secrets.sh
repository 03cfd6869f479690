#!/bin/bash
# Credentials at rest (--secret-key-file): with a keyring, the secret values
# of a spec and refresh-auth credentials are stored AES-256-GCM sealed, so
# `redis-cli HGETALL` and an RDB dump hold no secret, while the upload still
# runs (against the real Swift S3 server). Key rotation: a spec sealed with the
# old key opens with a keyring whose first key is new. A worker without the
# keyring fails such a job 'invalid' without leaking anything.
. "$VODQ_TESTS/lib.sh"
/usr/bin/python3 -c 'import swift' 2>/dev/null || { echo "# swift not installed"; exit 77; }
redis_start --rdbcompression no
s3_start vodq-secrets
k1=$(head -c 32 /dev/urandom | base64); k2=$(head -c 32 /dev/urandom | base64)
printf '# old key only\nk1 %s\n' "$k1" >"$T_DIR/old.keys"
printf '# rotation: k2 encrypts, k1 still opens\nk2 %s\nk1 %s\n' "$k2" "$k1" >"$T_DIR/ring.keys"
chmod 600 "$T_DIR/old.keys" "$T_DIR/ring.keys"
head -c $((6 << 20)) /dev/urandom >"$T_DIR/file.bin"
job() { # job ID KEY
  printf '{"id":"%s","type":"upload","max_attempts":2,"backoff":{"base_ms":100},"upload":{"file":"%s","part_size":5242880,"s3":{"url":"s3://%s/%s","endpoint":"%s","region":"us-east-1","access_key":"test:tester","secret_key":"testing","path_style":true}}}' \
    "$1" "$T_DIR/file.bin" "$B" "$2" "$EP"
}
start_scheduler s1 --secret-key-file "$T_DIR/ring.keys" --tick-ms 100
start_worker w1 --slots-upload 1 --slots-compose 0 --slots-sleep 1 --secret-key-file "$T_DIR/ring.keys" --roots "$T_DIR"

# sealed by vodqctl with the old key (before the scheduler sees it), and in clear
job sec1 one.bin | ctl --secret-key-file "$T_DIR/old.keys" submit - >/dev/null
job sec2 two.bin | ctl submit - >/dev/null
check "job sealed by the submitter (old key) succeeds" wait_state sec1 succeeded 60
check "job sealed by the scheduler (new key) succeeds" wait_state sec2 succeeded 60
for k in one two; do
  s3curl -f -o "$T_DIR/back.$k" "$EP/$B/$k.bin"
  check "object $k.bin equals the file" cmp -s "$T_DIR/back.$k" "$T_DIR/file.bin"
done
rcli HGETALL 'vodq:{default}:job:sec1' >"$T_DIR/h1"; rcli HGETALL 'vodq:{default}:job:sec2' >"$T_DIR/h2"
check "HGETALL of a job holds no secret" bash -c "! grep -q testing '$T_DIR/h1' '$T_DIR/h2'"
check "the submitter's seal names the old key" grep -q '"secret_key":"vodq:enc:v1:k1:' "$T_DIR/h1"
check "the scheduler's seal names the new key" grep -q '"secret_key":"vodq:enc:v1:k2:' "$T_DIR/h2"
check "the rest of the spec stays readable" grep -q '"access_key":"test:tester"' "$T_DIR/h2"
check "status --json masks it" bash -c "$VODQ_BIN/vodqctl --redis $REDIS_URL status sec1 --json | grep -q '\"secret_key\":\"\\*\\*\\*\"'"

# refresh-auth credentials are sealed too
long=$(submit_sleep 30000)
wait_state "$long" active 10
check "refresh-auth with the keyring" ctl --secret-key-file "$T_DIR/ring.keys" refresh-auth "$long" '{"access_key":"a","secret_key":"refreshed-secret-42"}'
a=$(rcli HGET "vodq:{default}:job:$long" auth)
check "the auth field holds ciphertext (${a:0:20}...)" grep -q '^vodq:enc:v1:k2:' <<<"$a"
ctl cancel "$long" >/dev/null

# a dump: a control value shows the dump is searchable; no secret is in it
rcli SET control-value control-plain-98765 >/dev/null
redis-cli -p "$REDIS_PORT" --rdb "$T_DIR/dump.rdb" >/dev/null 2>&1
check "the dump is readable (control value found)" grep -q control-plain-98765 "$T_DIR/dump.rdb"
check "the dump holds no S3 secret" bash -c "! grep -q testing '$T_DIR/dump.rdb'"
check "the dump holds no refreshed secret" bash -c "! grep -q refreshed-secret-42 '$T_DIR/dump.rdb'"

# a worker without the keyring: the job fails invalid, the message names the key id only
kill "$PID_w1"; wait "$PID_w1" 2>/dev/null || true
start_worker w2 --slots-upload 1 --slots-compose 0 --slots-sleep 0 --roots "$T_DIR"
job sec3 three.bin | ctl submit - >/dev/null
check "without the keyring the job dies" wait_state sec3 dead 30
e=$(job_field sec3 error)
check "saying why ($e)" grep -q 'encrypted (key id k2) but no --secret-key-file' <<<"$e"
expect_eq "as invalid" invalid "$(job_field sec3 error_code)"
check "no secret in the worker logs" bash -c "! grep -q -e testing -e refreshed-secret '$T_DIR/w1.log' '$T_DIR/w2.log'"
# a keyring file readable by others is warned about; a bad one refused without echoing it
chmod 644 "$T_DIR/old.keys"
check "a world-readable keyring is warned about" bash -c "$VODQ_BIN/vodqctl --redis $REDIS_URL --secret-key-file '$T_DIR/old.keys' stats 2>&1 | grep -q 'readable by other users'"
printf 'k9 not-base64-%s\n' "$k1" >"$T_DIR/bad.keys"
out=$("$VODQ_BIN/vodq-scheduler" --redis "$REDIS_URL" --secret-key-file "$T_DIR/bad.keys" 2>&1) && rc=0 || rc=$?
expect_eq "a bad keyring stops the scheduler (exit 2)" 2 "$rc"
check "naming the line ($out)" grep -q 'bad.keys:1' <<<"$out"
check "without the key material" bash -c "! grep -qF '$k1' <<<'$out'"
t_done
