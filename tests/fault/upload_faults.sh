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
# (The OSS/VOD fault cases against tests/oss_server.py follow in this file
# once that server exists.)
. "$VODQ_TESTS/lib.sh"

UP=$VODQ_BIN/vodq-upload
[ -x "$UP" ] || { echo "no $UP"; exit 1; }
jget() { /usr/bin/python3 -c 'import json,sys; print(json.load(sys.stdin)[sys.argv[1]])' "$1"; }

# ==== S3: Swift behind a fault-injecting proxy ====
/usr/bin/python3 -c 'import swift' 2>/dev/null || { echo "# swift not installed"; exit 77; }
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
$VODQ_WRAP "$UP" "$T_DIR/s3.bin" --s3 s3://faults/s1.bin --endpoint "$PX" --path-style \
  --access-key test:tester --secret-key testing --session-token OLD --part-size 5M --parallel 1 \
  --auth-file "$T_DIR/s3auth.json" --checkpoint "$S3CK" --json --quiet \
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

# S3: the server lost the upload id (aborted behind our back): start over
px_config '{"fail_5xx":0,"reset":0}'
$VODQ_WRAP "$UP" "$T_DIR/s3.bin" --s3 s3://faults/s3.bin --endpoint "$SWEP" --path-style \
  --access-key test:tester --secret-key testing --part-size 5M --parallel 1 --limit-rate 10M \
  --checkpoint "$S3CK" --quiet >"$T_DIR/s3a.log" 2>&1 &
P=$!
wait_for 20 grep -qs '"part:1"' "$S3CK" || true
kill -INT $P 2>/dev/null || true
wait $P && rc=0 || rc=$?
expect_eq "S3: paused" 3 "$rc"
S3ID=$(/usr/bin/python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["upload_id"])' "$S3CK")
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
$VODQ_WRAP "$UP" "$T_DIR/s3.bin" --s3 s3://faults/s5.bin --endpoint "$SWEP" --path-style \
  --access-key test:tester --secret-key testing --part-size 5M --parallel 1 --limit-rate 10M \
  --checkpoint "$S3CK" --quiet >"$T_DIR/s5a.log" 2>&1 &
P=$!
wait_for 20 grep -qs '"part:1"' "$S3CK" || true
kill -INT $P 2>/dev/null || true
wait $P && rc=0 || rc=$?
expect_eq "S5: paused" 3 "$rc"
S5ID=$(/usr/bin/python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["upload_id"])' "$S3CK")
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

t_done
