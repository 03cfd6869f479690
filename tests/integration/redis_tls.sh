#!/bin/bash
# rediss://: scheduler, worker and vodqctl over TLS to redis-server --tls-port
# (certificates made here with openssl: a CA, a server certificate for
# 127.0.0.1 and localhost, a client certificate). Jobs run, pause/resume
# through pub/sub work, a server restart is survived, and a wrong CA or a
# host name not in the certificate is refused with a clear message.
. "$VODQ_TESTS/lib.sh"
C=$T_DIR/certs
mkdir -p "$C"
mkcert() { # mkcert NAME CA SUBJECT [SAN]: key and certificate signed by CA
  local n=$1 ca=$2 subj=$3 san=${4:-}
  openssl req -new -newkey rsa:2048 -nodes -keyout "$C/$n.key" -subj "$subj" \
    -out "$C/$n.csr" 2>/dev/null
  if [ -n "$san" ]; then printf 'subjectAltName=%s\n' "$san" >"$C/$n.ext"; else : >"$C/$n.ext"; fi
  openssl x509 -req -in "$C/$n.csr" -CA "$C/$ca.crt" -CAkey "$C/$ca.key" -CAcreateserial \
    -days 2 -extfile "$C/$n.ext" -out "$C/$n.crt" 2>/dev/null
}
for ca in ca wrongca; do
  openssl req -x509 -new -newkey rsa:2048 -nodes -keyout "$C/$ca.key" -days 2 \
    -subj "/CN=vodq test $ca" -out "$C/$ca.crt" 2>/dev/null
done
mkcert server ca /CN=redis-test "IP:127.0.0.1,DNS:localhost"
mkcert client ca /CN=vodq-client
mkcert other ca /CN=other "DNS:other.example"

TLS_PORT=$(free_port)
start_tls_redis() {
  redis-server --port 0 --tls-port "$TLS_PORT" --bind 127.0.0.1 127.0.0.2 --dir "$T_DIR/redis" \
    --tls-cert-file "$C/server.crt" --tls-key-file "$C/server.key" \
    --tls-ca-cert-file "$C/ca.crt" --tls-auth-clients yes --save '' \
    --appendonly yes --appendfsync always --daemonize no --logfile "$T_DIR/redis-$1.log" &
  REDIS_PID=$!
  T_PIDS+=("$REDIS_PID")
  wait_for 10 bash -c "$(declare -f rcli); rcli ping >/dev/null 2>&1"
}
rcli() {
  redis-cli --tls --cacert "$C/ca.crt" --cert "$C/client.crt" --key "$C/client.key" \
    -h 127.0.0.1 -p "$TLS_PORT" "$@"
}
C=$C TLS_PORT=$TLS_PORT
export C TLS_PORT
mkdir -p "$T_DIR/redis"
start_tls_redis 1

# the options by environment here, by flags below
export VODQ_REDIS_CA_FILE=$C/ca.crt VODQ_REDIS_CERT_FILE=$C/client.crt \
  VODQ_REDIS_KEY_FILE=$C/client.key
REDIS_URL=rediss://localhost:$TLS_PORT
start_scheduler s1
start_worker w1 --slots-sleep 4
ids=()
for i in $(seq 10); do ids+=("$(submit_sleep 50)"); done
check "10 jobs succeed over TLS (host name localhost)" wait_for 30 all_state succeeded "${ids[@]}"

# control through the worker's TLS pub/sub connection and the heartbeat
long=$(submit_sleep 3000)
check "long job active" wait_state "$long" active 10
check "pause over TLS" ctl pause "$long"
check "paused" wait_state "$long" paused 10
check "resume over TLS" ctl resume "$long"
check "long job succeeds after resume" wait_state "$long" succeeded 20

# a server restart: everything reconnects over TLS
before=("${ids[@]}")
for i in $(seq 10); do ids+=("$(submit_sleep 200)"); done
sleep 0.3
rcli SHUTDOWN >/dev/null 2>&1 || true
wait "$REDIS_PID" 2>/dev/null || true
sleep 0.5
start_tls_redis 2
for i in $(seq 5); do ids+=("$(submit_sleep 20)"); done
check "jobs from before and after a TLS server restart succeed" wait_for 60 all_state succeeded "${ids[@]}"
check "worker still running" kill -0 "$PID_w1"
check "scheduler still running" kill -0 "$PID_s1"

# by IP address (the certificate lists 127.0.0.1), options as flags
unset VODQ_REDIS_CA_FILE VODQ_REDIS_CERT_FILE VODQ_REDIS_KEY_FILE
TLSOPTS=(--redis-ca-file "$C/ca.crt" --redis-cert-file "$C/client.crt" --redis-key-file "$C/client.key")
out=$("$VODQ_BIN/vodqctl" --redis "rediss://127.0.0.1:$TLS_PORT" "${TLSOPTS[@]}" stats 2>&1)
check "vodqctl stats over TLS by IP" grep -q succeeded <<<"$out"

# refusals
refused() { # refused WANT ARGS...: vodqctl fails and says WANT
  local want=$1 out rc=0; shift
  out=$("$VODQ_BIN/vodqctl" "$@" stats 2>&1) || rc=$?
  echo "# $out"
  [ "$rc" -ne 0 ] && grep -q -- "$want" <<<"$out"
}
check "a wrong CA is refused" refused "not signed by a CA of --redis-ca-file" \
  --redis "rediss://localhost:$TLS_PORT" --redis-ca-file "$C/wrongca.crt" \
  --redis-cert-file "$C/client.crt" --redis-key-file "$C/client.key"
check "an address not in the certificate is refused" refused "not in the certificate" \
  --redis "rediss://127.0.0.2:$TLS_PORT" "${TLSOPTS[@]}"
# a second server whose certificate names only other.example
P2=$(free_port)
redis-server --port 0 --tls-port "$P2" --bind 127.0.0.1 --tls-cert-file "$C/other.crt" \
  --tls-key-file "$C/other.key" --tls-ca-cert-file "$C/ca.crt" --save '' --appendonly no \
  --daemonize no --logfile "$T_DIR/redis-other.log" &
T_PIDS+=("$!")
wait_for 10 bash -c "redis-cli --tls --cacert $C/ca.crt --cert $C/client.crt --key $C/client.key \
  --sni other.example -p $P2 ping 2>/dev/null | grep -q PONG"
check "a host name not in the certificate is refused" refused "hostname mismatch" \
  --redis "rediss://localhost:$P2" "${TLSOPTS[@]}"
check "the system CAs do not trust the test CA" refused "certificate of localhost refused" \
  --redis "rediss://localhost:$TLS_PORT" --redis-cert-file "$C/client.crt" \
  --redis-key-file "$C/client.key"
check "plain redis:// to a TLS port fails" refused "redis 127.0.0.1:$TLS_PORT" \
  --redis "redis://127.0.0.1:$TLS_PORT"
check "a missing CA file is named" refused "redis-ca-file '/nonexistent/ca.pem'" \
  --redis "rediss://localhost:$TLS_PORT" --redis-ca-file /nonexistent/ca.pem
check "a certificate without key is refused" refused "go together" \
  --redis "rediss://localhost:$TLS_PORT" --redis-cert-file "$C/client.crt"
check "a file that is not a CA bundle is refused" refused "redis-ca-file" \
  --redis "rediss://localhost:$TLS_PORT" --redis-ca-file "$C/client.key"
t_done
