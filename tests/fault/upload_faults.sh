#!/bin/bash
# upload_faults.sh: vodq-upload under injected faults. Every count is taken
# at the server side, not from our own logs.
# S3 (Swift checks no session tokens, so a small fault-injecting proxy of
# ours, written out below, sits in front of it):
#  S1. ExpiredToken after part 1: the CLI stops, reports token_expired, waits;
#      new credentials in --auth-file resume the SAME upload id and only the
#      missing parts are sent;
#  S2. 503 and connection resets on parts, retried per part without restarting;
#  S3. (Swift directly) the upload id aborted behind our back: start over;
#  S4. kill -9 mid-file, rerun with --checkpoint: only the parts missing from
#      the checkpoint are sent, so at most the parts in flight go twice;
#  S5. the file changed between attempts: a new upload, the old one aborted.
# OSS (VOD target) against the OSS-protocol test server tests/oss_server.py,
# faults injected through its /__ctl API, counts from its /__ctl/stats:
#  1. the token expires after part 3: the CLI stops, reports token_expired and
#     waits; a refresh (new UploadAuth in --auth-file, new token at the
#     server) resumes the SAME upload id and sends only the missing parts;
#  2. no refresh within --wait-auth: exit 4 with the checkpoint kept; a rerun
#     with new credentials finishes the same upload id;
#  3. kill -9 mid-file, rerun with --checkpoint: at most the parts that were
#     in flight are sent again;
#  4. 5xx replies and connection resets are retried per request, one upload id;
#  5. the file changed between runs: the upload starts over;
#  6. the server lost the upload id (restarted empty): the upload starts over;
#  7. bad input: malformed base64 / JSON / missing fields / unreadable file.
. "$VODQ_TESTS/lib.sh"

UP=$VODQ_BIN/vodq-upload
[ -x "$UP" ] || { echo "no $UP"; exit 1; }
jget() { /usr/bin/python3 -c 'import json,sys; print(json.load(sys.stdin)[sys.argv[1]])' "$1"; }

# ==== S3: Swift behind a fault-injecting proxy ====
if /usr/bin/python3 -c 'import swift' 2>/dev/null; then
SW=$T_DIR/swift
SWPID=$(bash "$VODQ_TESTS/s3-swift.sh" start 0 "$SW")
T_PIDS+=("$SWPID")
cat >"$T_DIR/s3proxy.py" <<'PYEOF'
# Fault-injecting HTTP proxy for tests, in front of a local S3 server (Swift),
# which checks no session tokens itself. Forwards requests byte for byte
# (Host header kept, so SigV4 signatures stay valid) and, on command:
#   expire_after_parts N: once N UploadPart requests succeeded, every request
#     whose x-amz-security-token is not the current token gets 400 ExpiredToken
#   token T: the token accepted from now on
#   fail_5xx N: the next N UploadPart requests get 503 SlowDown
#   reset N: the next N UploadPart requests have their connection dropped
# Control: POST /__proxy/config {"expire_after_parts":..,"token":..,...};
# GET /__proxy/stats {"parts":[[upload_id, part, status], ...]}.
import http.client, json, socket, sys, threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import urlsplit, parse_qs

upstream = int(sys.argv[2])
cfg = {"expire_after_parts": -1, "token": None, "fail_5xx": 0, "reset": 0}
st = {"ok_parts": 0, "parts": []}
lock = threading.Lock()

class H(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    def log_message(self, *a): pass
    def reply(self, code, body, ctype="application/xml"):
        b = body.encode()
        self.send_response(code)
        self.send_header("Content-Type", ctype)
        self.send_header("Content-Length", str(len(b)))
        self.end_headers()
        self.wfile.write(b)
    def handle_any(self):
        n = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(n) if n else b""
        u = urlsplit(self.path)
        if u.path == "/__proxy/config":
            with lock:
                cfg.update(json.loads(body or b"{}"))
            return self.reply(200, "{}", "application/json")
        if u.path == "/__proxy/stats":
            with lock:
                return self.reply(200, json.dumps(st), "application/json")
        q = parse_qs(u.query, keep_blank_values=True)
        is_part = self.command == "PUT" and "partNumber" in q
        with lock:
            tok = self.headers.get("x-amz-security-token")
            if cfg["expire_after_parts"] >= 0 and st["ok_parts"] >= cfg["expire_after_parts"] \
                    and tok != cfg["token"]:
                return self.reply(400, "<?xml version=\"1.0\"?><Error><Code>ExpiredToken</Code>"
                                  "<Message>The provided token has expired.</Message></Error>")
            if is_part and cfg["reset"] > 0:
                cfg["reset"] -= 1
                self.close_connection = True
                self.connection.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, b"\x01\0\0\0\0\0\0\0")
                self.connection.close()
                return
            if is_part and cfg["fail_5xx"] > 0:
                cfg["fail_5xx"] -= 1
                return self.reply(503, "<Error><Code>SlowDown</Code><Message>injected</Message></Error>")
        c = http.client.HTTPConnection("127.0.0.1", upstream, timeout=60)
        c.putrequest(self.command, self.path, skip_host=True, skip_accept_encoding=True)
        for k, v in self.headers.items():
            c.putheader(k, v)
        c.endheaders(body if body else None)
        r = c.getresponse()
        data = r.read()
        if is_part:
            with lock:
                st["parts"].append([q["uploadId"][0], int(q["partNumber"][0]), r.status])
                if r.status == 200:
                    st["ok_parts"] += 1
        self.send_response(r.status)
        for k, v in r.getheaders():
            if k.lower() not in ("content-length", "transfer-encoding", "connection"):
                self.send_header(k, v)
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(data)
        c.close()
    do_GET = do_PUT = do_POST = do_DELETE = do_HEAD = handle_any

srv = ThreadingHTTPServer(("127.0.0.1", 0), H)
open(sys.argv[1] + ".tmp", "w").write(str(srv.server_address[1]))
import os; os.rename(sys.argv[1] + ".tmp", sys.argv[1])
srv.serve_forever()
PYEOF
/usr/bin/python3 "$T_DIR/s3proxy.py" "$T_DIR/pxport" "$(cat "$SW/port")" >"$T_DIR/s3proxy.log" 2>&1 &
T_PIDS+=("$!")
wait_for 10 test -s "$T_DIR/pxport"
PX=http://127.0.0.1:$(cat "$T_DIR/pxport")
printf 'machine 127.0.0.1 login test:tester password testing\n' >"$T_DIR/netrc"
s3curl() {
  curl -sS --netrc-file "$T_DIR/netrc" --aws-sigv4 aws:amz:us-east-1:s3 \
    -H x-amz-content-sha256:UNSIGNED-PAYLOAD "$@"
}
SWEP=http://127.0.0.1:$(cat "$SW/port")
s3curl -f -X PUT "$SWEP/faults" >/dev/null
px_config() { curl -sf -X POST -d "$1" "$PX/__proxy/config" >/dev/null; }
# px_parts UPLOAD_ID: part numbers the proxy forwarded and Swift accepted (200), in order
px_parts() {
  curl -sf "$PX/__proxy/stats" | /usr/bin/python3 -c "import json,sys; print(' '.join(str(p[1]) for p in json.load(sys.stdin)['parts'] if p[0]==sys.argv[1] and p[2]==200))" "$1"
}
head -c $((20 << 20)) /dev/urandom >"$T_DIR/s3.bin"
s3auth() { echo "{\"access_key\":\"test:tester\",\"secret_key\":\"testing\",\"session_token\":\"$1\"}"; }
S3CK=$T_DIR/s3ck.json

# S1: ExpiredToken after one part; refresh through the auth file
s3auth OLD >"$T_DIR/s3auth.json"
px_config '{"expire_after_parts":1,"token":"NEW"}'
# (the first credentials come from the auth file too)
$VODQ_WRAP "$UP" "$T_DIR/s3.bin" --s3 s3://faults/s1.bin --endpoint "$PX" --path-style \
  --part-size 5M --parallel 1 --auth-file "$T_DIR/s3auth.json" --checkpoint "$S3CK" --json --quiet \
  >"$T_DIR/s1.out" 2>"$T_DIR/s1.log" &
P=$!
check "S1: token_expired reported" wait_for 20 grep -q '^event token_expired' "$T_DIR/s1.log"
S1ID=$(/usr/bin/python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["upload_id"])' "$S3CK")
expect_eq "S1: one part accepted before expiry" "1" "$(px_parts "$S1ID")"
s3auth NEW >"$T_DIR/s3auth.json"
wait $P && rc=0 || rc=$?
expect_eq "S1: completes after refresh" 0 "$rc"
expect_eq "S1: same upload id" "$S1ID" "$(jget upload_id <"$T_DIR/s1.out")"
expect_eq "S1: each part accepted once" "1 2 3 4" "$(px_parts "$S1ID")"
s3curl -f -o "$T_DIR/s1.back" "$SWEP/faults/s1.bin"
check "S1: read back equal" cmp -s "$T_DIR/s1.back" "$T_DIR/s3.bin"

# S2: 503s and connection resets on parts
px_config '{"expire_after_parts":-1,"fail_5xx":3,"reset":2}'
$VODQ_WRAP "$UP" "$T_DIR/s3.bin" --s3 s3://faults/s2.bin --endpoint "$PX" --path-style \
  --access-key test:tester --secret-key testing --part-size 5M --parallel 3 --retry-base-ms 50 \
  --json --quiet >"$T_DIR/s2.out" 2>"$T_DIR/s2.log" && rc=0 || rc=$?
expect_eq "S2: completes despite 503 and resets" 0 "$rc"
check "S2: 503 retried" grep -q '^event retry .*HTTP 503' "$T_DIR/s2.log"
check "S2: retry_resume reported" grep -q '^event retry_resume' "$T_DIR/s2.log"
S2ID=$(jget upload_id <"$T_DIR/s2.out")
expect_eq "S2: all parts on one upload id" "1 2 3 4" \
  "$(px_parts "$S2ID" | tr ' ' '\n' | sort -n | tr '\n' ' ' | sed 's/ $//')"
s3curl -f -o "$T_DIR/s2.back" "$SWEP/faults/s2.bin"
check "S2: read back equal" cmp -s "$T_DIR/s2.back" "$T_DIR/s3.bin"

# s3_pause KEY NAME: a rate-limited upload straight to Swift, SIGINT once
# part 1 is checkpointed; checks the pause and leaves the upload id in $S3PAUSED
s3_pause() {
  $VODQ_WRAP "$UP" "$T_DIR/s3.bin" --s3 "s3://faults/$1" --endpoint "$SWEP" --path-style \
    --access-key test:tester --secret-key testing --part-size 5M --parallel 1 --limit-rate 10M \
    --checkpoint "$S3CK" --quiet >"$T_DIR/$2-pause.log" 2>&1 &
  P=$!
  wait_for 20 grep -qs '"part:1"' "$S3CK" || true
  kill -INT $P 2>/dev/null || true
  wait $P && rc=0 || rc=$?
  expect_eq "$2: paused" 3 "$rc"
  S3PAUSED=$(/usr/bin/python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["upload_id"])' "$S3CK")
}

# S3: the server lost the upload id (aborted behind our back): start over
px_config '{"fail_5xx":0,"reset":0}'
s3_pause s3.bin S3
S3ID=$S3PAUSED
s3curl -f -X DELETE "$SWEP/faults/s3.bin?uploadId=$S3ID" >/dev/null
$VODQ_WRAP "$UP" "$T_DIR/s3.bin" --s3 s3://faults/s3.bin --endpoint "$SWEP" --path-style \
  --access-key test:tester --secret-key testing --part-size 5M --checkpoint "$S3CK" --json --quiet \
  >"$T_DIR/s3b.out" 2>"$T_DIR/s3b.log" && rc=0 || rc=$?
expect_eq "S3: completes on a fresh upload" 0 "$rc"
check "S3: lost upload id reported" grep -q "no longer knows" "$T_DIR/s3b.log"
check "S3: new upload id" test "$(jget upload_id <"$T_DIR/s3b.out")" != "$S3ID"
s3curl -f -o "$T_DIR/s3.back" "$SWEP/faults/s3.bin"
check "S3: read back equal" cmp -s "$T_DIR/s3.back" "$T_DIR/s3.bin"

# S4: kill -9 mid-file; the rerun sends at most the parts that were in flight again
px_parts_all() { # every part the server accepted for the upload, with repeats
  curl -sf "$PX/__proxy/stats" | /usr/bin/python3 -c "import json,sys; print(len([p for p in json.load(sys.stdin)['parts'] if p[0]==sys.argv[1] and p[2]==200]))" "$1"
}
ckparts() { { grep -o '"part:' "$S3CK" 2>/dev/null || true; } | wc -l; }
ck_has() { [ "$(ckparts)" -ge "$1" ]; } # the checkpoint lists at least N parts
rm -f "$S3CK"
$VODQ_WRAP "$UP" "$T_DIR/s3.bin" --s3 s3://faults/s4.bin --endpoint "$PX" --path-style \
  --access-key test:tester --secret-key testing --part-size 5M --parallel 2 --limit-rate 8M \
  --checkpoint "$S3CK" --quiet >"$T_DIR/s4a.log" 2>&1 &
P=$!
wait_for 20 ck_has 1 || true
kill -9 $P 2>/dev/null || true
wait $P 2>/dev/null || true
C=$(ckparts)
S4ID=$(/usr/bin/python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["upload_id"])' "$S3CK")
A=$(px_parts_all "$S4ID")
echo "# killed with $C parts in the checkpoint, $A accepted by the server"
check "S4: killed mid-file" test "$C" -lt 4
$VODQ_WRAP "$UP" "$T_DIR/s3.bin" --s3 s3://faults/s4.bin --endpoint "$PX" --path-style \
  --access-key test:tester --secret-key testing --part-size 5M --parallel 2 --checkpoint "$S3CK" \
  --json --quiet >"$T_DIR/s4b.out" 2>"$T_DIR/s4b.log" && rc=0 || rc=$?
expect_eq "S4: rerun completes" 0 "$rc"
expect_eq "S4: same upload id" "$S4ID" "$(jget upload_id <"$T_DIR/s4b.out")"
TOTAL=$(px_parts_all "$S4ID")
expect_eq "S4: the rerun sent exactly the parts missing from the checkpoint" $((4 - C)) $((TOTAL - A))
check "S4: parts sent twice <= parts in flight (2)" test $((A - C)) -le 2
s3curl -f -o "$T_DIR/s4.back" "$SWEP/faults/s4.bin"
check "S4: read back equal" cmp -s "$T_DIR/s4.back" "$T_DIR/s3.bin"

# S5: the file changed between attempts: start over on a new upload id
s3_pause s5.bin S5
S5ID=$S3PAUSED
printf 'changed' | dd of="$T_DIR/s3.bin" bs=1 seek=100 conv=notrunc status=none
$VODQ_WRAP "$UP" "$T_DIR/s3.bin" --s3 s3://faults/s5.bin --endpoint "$SWEP" --path-style \
  --access-key test:tester --secret-key testing --part-size 5M --checkpoint "$S3CK" --json --quiet \
  >"$T_DIR/s5b.out" 2>"$T_DIR/s5b.log" && rc=0 || rc=$?
expect_eq "S5: changed file uploaded" 0 "$rc"
check "S5: change detected" grep -q "file changed" "$T_DIR/s5b.log"
check "S5: a new upload id" test "$(jget upload_id <"$T_DIR/s5b.out")" != "$S5ID"
expect_eq "S5: nothing reused" 0 "$(jget resumed_parts <"$T_DIR/s5b.out")"
s3curl -f -o "$T_DIR/s5.back" "$SWEP/faults/s5.bin"
check "S5: read back is the new content" cmp -s "$T_DIR/s5.back" "$T_DIR/s3.bin"
count_uploads() { s3curl -f "$SWEP/faults?uploads=" | grep -o '<UploadId>' | wc -l; }
expect_eq "S5: the old upload was aborted, none left open" 0 "$(count_uploads)"

else
  echo "# swift not installed: the S3 cases are not run"
fi

# ==== OSS (VOD target) against tests/oss_server.py ====
OSSD=$T_DIR/oss
mkdir -p "$OSSD"
# oss_start [PORT]: (re)starts the test server, on PORT when given
oss_start() {
  rm -f "$OSSD/port"
  /usr/bin/python3 "$VODQ_TESTS/oss_server.py" --dir "$OSSD" --port "${1:-0}" --access-key STS.faultak \
    --secret faultsecret --token T1 --region cn-shanghai >>"$T_DIR/oss.log" 2>&1 &
  OSSPID=$!
  T_PIDS+=("$OSSPID")
  wait_for 10 test -s "$OSSD/port"
  PORT=$(cat "$OSSD/port")
  EP=http://127.0.0.1:$PORT
}
oss_start
ctl_config() { curl -sf -X POST -H 'Content-Type: application/json' -d "$1" "$EP/__ctl/config" >/dev/null; }
stats() { curl -sf "$EP/__ctl/stats"; }
# py EXPR: evaluates a Python expression with s = the server's stats
pystats() { stats | /usr/bin/python3 -c "import json,sys; s=json.load(sys.stdin); print($1)"; }
b64() { printf '%s' "$1" | base64 -w0; }
auth() { # auth TOKEN
  b64 "{\"AccessKeyId\":\"STS.faultak\",\"AccessKeySecret\":\"faultsecret\",\"SecurityToken\":\"$1\",\"Region\":\"cn-shanghai\",\"ExpireUTCTime\":\"2099-01-01T00:00:00Z\"}"
}
addr() { # addr KEY
  b64 "{\"Endpoint\":\"$EP\",\"Bucket\":\"outin-faults\",\"FileName\":\"$1\"}"
}
ckget() { /usr/bin/python3 -c 'import json,sys; print(json.load(open(sys.argv[1])).get(sys.argv[2],""))' "$CK" "$1"; }
ckparts() { { grep -o '"part:' "$CK" 2>/dev/null || true; } | wc -l; }
ck_has() { [ "$(ckparts)" -ge "$1" ]; }
# crc64 FILE: CRC-64/XZ of FILE by the test server's own Python code
# (independent of our C code)
crc64() {
  /usr/bin/python3 -c 'import sys; sys.path.insert(0, sys.argv[1]); from oss_server import crc64
print(crc64(open(sys.argv[2], "rb").read()))' "$VODQ_TESTS" "$1"
}
# parts_of UPLOAD_ID: the part numbers the server accepted, in order, space-separated
parts_of() { pystats "' '.join(str(n) for n in s['parts_by_upload'].get('$1', []))"; }

NPARTS=16
PS=262144
head -c $((NPARTS * PS)) /dev/urandom >"$T_DIR/video.mp4"
CK=$T_DIR/ck.json
AF=$T_DIR/auth.txt
# run_up KEY LOG [extra args]: vodq-upload in the background, pid in $P
run_up() {
  local key=$1 log=$2; shift 2
  $VODQ_WRAP "$UP" "$T_DIR/video.mp4" --vod-address "$(addr "$key")" --auth-file "$AF" \
    --path-style --part-size $PS --checkpoint "$CK" --retry-base-ms 50 --json "$@" \
    >"$T_DIR/$log.out" 2>"$T_DIR/$log.log" &
  P=$!
}
finish() { wait "$P" && rc=0 || rc=$?; }
seq_str() { seq -s' ' 1 "$1"; }

# ---- 1. token expires after part 3, refresh resumes the same upload id
auth T1 >"$AF"
ctl_config '{"expire_token_after_parts":3}'
run_up sv/t1.mp4 t1 --parallel 1 --wait-auth 30
check "1: token_expired reported" wait_for 20 grep -q '^event token_expired' "$T_DIR/t1.log"
check "1: still waiting for credentials" kill -0 "$P"
UID1=$(ckget upload_id)
expect_eq "1: three parts accepted before expiry" "1 2 3" "$(parts_of "$UID1")"
sleep 1
expect_eq "1: nothing sent while waiting" "1 2 3" "$(parts_of "$UID1")"
ctl_config '{"token":"T2"}'
auth T2 >"$AF"
finish
expect_eq "1: completes after refresh (exit 0)" 0 "$rc"
expect_eq "1: same upload id" "$UID1" "$(jget upload_id <"$T_DIR/t1.out")"
expect_eq "1: every part sent once, none again" "$(seq_str $NPARTS)" "$(parts_of "$UID1")"
expect_eq "1: one upload for the object" 1 "$(pystats "len(s['parts_by_upload'])")"
check "1: retry_resume reported" grep -q '^event retry_resume' "$T_DIR/t1.log"
expect_eq "1: CRC-64 matches an independent computation" "$(crc64 "$T_DIR/video.mp4")" \
  "$(jget crc64 <"$T_DIR/t1.out")"

# ---- 2. no refresh in time: exit 4, checkpoint kept; rerun finishes the same upload
ctl_config '{"expire_token_after_parts":2}'
run_up sv/t2.mp4 t2 --parallel 1 --wait-auth 2
finish
expect_eq "2: no refresh in time: exit 4" 4 "$rc"
check "2: error says credentials expired" grep -q "credentials expired" "$T_DIR/t2.log"
UID2=$(ckget upload_id)
check "2: checkpoint kept with the upload id" test -n "$UID2"
expect_eq "2: checkpoint holds the 2 acknowledged parts" 2 "$(ckparts)"
ctl_config '{"token":"T3"}'
auth T3 >"$AF"
run_up sv/t2.mp4 t2b --parallel 2
finish
expect_eq "2: rerun with new credentials: exit 0" 0 "$rc"
expect_eq "2: same upload id" "$UID2" "$(jget upload_id <"$T_DIR/t2b.out")"
expect_eq "2: resumed 2 parts" 2 "$(jget resumed_parts <"$T_DIR/t2b.out")"
expect_eq "2: each part sent once" "$(seq_str $NPARTS)" \
  "$(parts_of "$UID2" | tr ' ' '\n' | sort -n | tr '\n' ' ' | sed 's/ $//')"

# ---- 3. kill -9 mid-file; the rerun re-sends at most the parts in flight
ctl_config '{"slow_ms":150}'
run_up sv/t3.mp4 t3 --parallel 2
wait_for 20 ck_has 5 || true
kill -9 "$P" 2>/dev/null || true
finish
C=$(ckparts)
UID3=$(ckget upload_id)
# a part whose bytes were in the killed process's socket buffer still reaches the server
# after the kill: count the server's parts once the count stays put
parts_settled() {
  local a b
  a=$(parts_of "$UID3" | wc -w); sleep 0.3; b=$(parts_of "$UID3" | wc -w)
  [ "$a" = "$b" ]
}
wait_for 10 parts_settled || true
A=$(parts_of "$UID3" | wc -w)
echo "# killed with $C parts in the checkpoint, $A at the server"
check "3: killed mid-file" test "$C" -lt $NPARTS
ctl_config '{"slow_ms":0}'
run_up sv/t3.mp4 t3b --parallel 2
finish
expect_eq "3: rerun completes" 0 "$rc"
expect_eq "3: same upload id" "$UID3" "$(jget upload_id <"$T_DIR/t3b.out")"
TOTAL=$(parts_of "$UID3" | wc -w)
expect_eq "3: the rerun sent exactly the parts missing from the checkpoint" $((NPARTS - C)) $((TOTAL - A))
check "3: parts sent twice <= parts in flight (2)" test $((A - C)) -le 2

# ---- 4. 5xx and connection resets are retried per part, without restarting
# faults armed once the upload is under way, so that they hit parts
ctl_config '{"slow_ms":100}'
run_up sv/t4.mp4 t4 --parallel 3 --max-attempts 10
wait_for 20 ck_has 1 || true
ctl_config '{"fail_5xx":3,"reset":6,"slow_ms":0}'
finish
expect_eq "4: completes despite 5xx and resets" 0 "$rc"
UID4=$(jget upload_id <"$T_DIR/t4.out")
# (libcurl itself resends once on a fresh connection when a reused one dies
# before any reply, so with 3 parts in flight up to 3 resets are absorbed
# below us; the resends then meet the other 3: at least 3 + 3 reach us)
check "4: part retries reported" test "$(grep -c '^event retry {"part":[1-9]' "$T_DIR/t4.log")" -ge 6
check "4: a 503 retried on a part" grep -q '^event retry {"part":[1-9].*HTTP 503' "$T_DIR/t4.log"
check "4: a reset retried on a part" grep -q '^event retry {"part":[1-9].*reset' "$T_DIR/t4.log"
check "4: retry_resume reported" grep -q '^event retry_resume' "$T_DIR/t4.log"
expect_eq "4: one upload id for the object" 1 \
  "$(pystats "sum(1 for u in s['parts_by_upload'] if u != '$UID1' and u != '$UID2' and u != '$UID3')")"
expect_eq "4: all parts present" "$(seq_str $NPARTS)" \
  "$(parts_of "$UID4" | tr ' ' '\n' | sort -nu | tr '\n' ' ' | sed 's/ $//')"
expect_eq "4: CRC-64 verified" "$(crc64 "$T_DIR/video.mp4")" "$(jget crc64 <"$T_DIR/t4.out")"

# pause_after_2 KEY LOG N: a slowed upload, SIGINT once 2 parts are
# checkpointed; checks the pause (exit 3) and leaves the upload id in $PAUSED_ID
pause_after_2() {
  ctl_config '{"slow_ms":100}'
  run_up "$1" "$2" --parallel 1
  wait_for 20 ck_has 2 || true
  kill -INT "$P" 2>/dev/null || true
  finish
  expect_eq "$3: paused (exit 3)" 3 "$rc"
  PAUSED_ID=$(ckget upload_id)
  ctl_config '{"slow_ms":0}'
}

# ---- 5. the file changed between attempts: start over
pause_after_2 sv/t5.mp4 t5 5
UID5=$PAUSED_ID
printf 'x' | dd of="$T_DIR/video.mp4" bs=1 seek=5 conv=notrunc status=none
run_up sv/t5.mp4 t5b --parallel 2
finish
expect_eq "5: changed file uploaded" 0 "$rc"
check "5: change detected" grep -q "file changed" "$T_DIR/t5b.log"
check "5: a new upload id" test "$(jget upload_id <"$T_DIR/t5b.out")" != "$UID5"
expect_eq "5: resumed nothing" 0 "$(jget resumed_parts <"$T_DIR/t5b.out")"
expect_eq "5: CRC-64 of the new content" "$(crc64 "$T_DIR/video.mp4")" "$(jget crc64 <"$T_DIR/t5b.out")"

# ---- 6. the server lost the upload id (restarted empty on the same port)
pause_after_2 sv/t6.mp4 t6 6
UID6=$PAUSED_ID
kill "$OSSPID"; wait "$OSSPID" 2>/dev/null || true
rm -rf "$OSSD"; mkdir -p "$OSSD"
oss_start "$PORT"
ctl_config '{"token":"T3"}'
run_up sv/t6.mp4 t6b --parallel 2
finish
expect_eq "6: upload completes on a fresh upload id" 0 "$rc"
check "6: lost upload reported" grep -q "no longer knows" "$T_DIR/t6b.log"
check "6: new upload id" test "$(jget upload_id <"$T_DIR/t6b.out")" != "$UID6"

# ---- 7. bad input: each a clear error naming what is wrong (exit 1, nothing sent)
bad() { # bad DESCRIPTION EXPECTED_TEXT ARGS...
  local d=$1 want=$2; shift 2
  local out
  out=$($VODQ_WRAP "$UP" "$@" --path-style --quiet 2>&1 >/dev/null) && rc=0 || rc=$?
  if [ "$rc" = 1 ] && grep -qi -- "$want" <<<"$out" && ! grep -q faultsecret <<<"$out"; then
    ok "7: $d"
  else
    not_ok "7: $d (exit $rc: $out)"
  fi
}
A_OK=$(addr sv/bad.mp4)
bad "malformed base64 address" "address" "$T_DIR/video.mp4" --vod-address '%%%not-base64' --vod-auth "$(auth T3)"
bad "address not JSON" "address" "$T_DIR/video.mp4" --vod-address "$(b64 'not json')" --vod-auth "$(auth T3)"
bad "address without Bucket" "Bucket" "$T_DIR/video.mp4" \
  --vod-address "$(b64 "{\"Endpoint\":\"$EP\",\"FileName\":\"a.mp4\"}")" --vod-auth "$(auth T3)"
bad "malformed base64 auth" "auth" "$T_DIR/video.mp4" --vod-address "$A_OK" --vod-auth '!!'
bad "auth without AccessKeySecret" "AccessKeySecret" "$T_DIR/video.mp4" --vod-address "$A_OK" \
  --vod-auth "$(b64 '{"AccessKeyId":"STS.x","SecurityToken":"t","Region":"cn-shanghai"}')"
bad "auth JSON broken" "auth" "$T_DIR/video.mp4" --vod-address "$A_OK" --vod-auth "$(b64 '{"AccessKeyId":')"
bad "missing file" "$T_DIR/nope.mp4" "$T_DIR/nope.mp4" --vod-address "$A_OK" --vod-auth "$(auth T3)"
bad "a directory" "not a regular file" "$T_DIR" --vod-address "$A_OK" --vod-auth "$(auth T3)"


t_done
