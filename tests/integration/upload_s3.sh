#!/bin/bash
# upload_s3.sh: vodq-upload against a real S3 server (OpenStack Swift 2.30 with
# s3api, started here by tests/s3-swift.sh on a random port). Checks:
#  - PutObject of a small video (made with ffmpeg) and of an image, read back byte-exact;
#  - multipart of a 50 MiB file at 5, 8 and 16 MiB parts: read back equal, ETag "-N";
#  - a session token is signed and accepted;
#  - a wrong secret is refused with a clear error that does not echo it;
#  - pause by SIGINT keeps the checkpoint and the upload, a rerun resumes it;
#  - --cancel aborts the upload: ListMultipartUploads is empty afterwards.
# The read-back uses curl --aws-sigv4 (independent of our signing code).
. "$VODQ_TESTS/lib.sh"

/usr/bin/python3 -c 'import swift' 2>/dev/null || { echo "# swift not installed"; exit 77; }
UP=$VODQ_BIN/vodq-upload
[ -x "$UP" ] || { echo "no $UP"; exit 1; }

s3_start vodq-test
export VODQ_S3_ACCESS_KEY=test:tester VODQ_S3_SECRET_KEY=testing
up() { $VODQ_WRAP "$UP" "$@"; }
sha() { sha256sum "$1" | cut -d' ' -f1; }
# readback KEY FILE: GET the object and compare with FILE
readback() {
  s3curl -f -o "$T_DIR/back" "$EP/$B/$1" && cmp -s "$T_DIR/back" "$2"
}
jget() { /usr/bin/python3 -c 'import json,sys; print(json.load(sys.stdin)[sys.argv[1]])' "$1"; }
count_uploads() { s3curl -f "$EP/$B?uploads=" | grep -o '<UploadId>' | wc -l; }

# ---- PutObject: a small video and an image, generated here
ffmpeg -loglevel error -f lavfi -i testsrc=size=320x240:rate=25 -f lavfi -i sine=frequency=440 \
  -t 2 -c:v libx264 -pix_fmt yuv420p -c:a aac -shortest "$T_DIR/clip.mp4"
ffmpeg -loglevel error -f lavfi -i testsrc=size=320x240 -frames:v 1 "$T_DIR/cover.jpg"
out=$(up "$T_DIR/clip.mp4" --s3 "s3://$B/videos/clip one.mp4" --endpoint "$EP" --path-style \
  --json --quiet 2>"$T_DIR/put.log") && ok "put small video: exit 0" || not_ok "put small video: exit $?"
expect_eq "put small video: PutObject (0 parts)" 0 "$(echo "$out" | jget parts)"
check "put small video: read back equal" readback "videos/clip%20one.mp4" "$T_DIR/clip.mp4"
expect_eq "put small video: etag is the md5" "\"$(md5sum "$T_DIR/clip.mp4" | cut -d' ' -f1)\"" \
  "$(echo "$out" | jget etag)"
check "put small video: content type from the extension" \
  bash -c "curl -sS --netrc-file '$T_DIR/netrc' --aws-sigv4 aws:amz:us-east-1:s3 -H x-amz-content-sha256:UNSIGNED-PAYLOAD -I '$EP/$B/videos/clip%20one.mp4' | grep -qi '^content-type: video/mp4'"
up "$T_DIR/cover.jpg" --image --s3 "s3://$B/cover.jpg" --endpoint "$EP" --path-style --quiet \
  >"$T_DIR/img.log" 2>&1 && ok "put image: exit 0" || not_ok "put image"
check "put image: read back equal" readback cover.jpg "$T_DIR/cover.jpg"

# ---- session token: signed (x-amz-security-token), Swift accepts it
up "$T_DIR/cover.jpg" --image --s3 "s3://$B/cover-tok.jpg" --endpoint "$EP" --path-style --quiet \
  --session-token "FwoGZXIvYXdzEXAMPLETOKEN" >"$T_DIR/tok.log" 2>&1 \
  && ok "put with a session token" || not_ok "put with a session token"

# ---- multipart: 50 MiB at several part sizes
head -c $((50 << 20)) /dev/urandom >"$T_DIR/big.bin"
for ps in 5 8 16; do
  t0=$(date +%s.%N)
  out=$(up "$T_DIR/big.bin" --s3 "s3://$B/big-$ps.bin" --endpoint "$EP" --path-style \
    --part-size "${ps}M" --parallel 4 --json --quiet 2>"$T_DIR/mp$ps.log") \
    && ok "multipart ${ps} MiB parts: exit 0" || not_ok "multipart ${ps} MiB parts: exit $?"
  t1=$(date +%s.%N)
  echo "# 50 MiB with ${ps} MiB parts: $(echo "$t1 - $t0" | bc) s"
  n=$(( (50 + ps - 1) / ps ))
  expect_eq "multipart ${ps} MiB: part count" "$n" "$(echo "$out" | jget parts)"
  case "$(echo "$out" | jget etag)" in *-"$n"*) ok "multipart ${ps} MiB: ETag ends in -$n";;
    *) not_ok "multipart ${ps} MiB: ETag $(echo "$out" | jget etag)";; esac
  check "multipart ${ps} MiB: read back equal" readback "big-$ps.bin" "$T_DIR/big.bin"
done
expect_eq "no multipart upload left behind" 0 "$(count_uploads)"

# ---- a part size below the S3 minimum is refused before sending anything
up "$T_DIR/big.bin" --s3 "s3://$B/small-parts" --endpoint "$EP" --path-style --part-size 1M \
  --quiet >/dev/null 2>"$T_DIR/minpart.log" && rc=0 || rc=$?
expect_eq "1 MiB parts refused (exit 1)" 1 "$rc"
check "1 MiB parts: error names part_size" grep -q "part_size.*5 MiB" "$T_DIR/minpart.log"

# ---- wrong secret: a clear error, never the secret itself
VODQ_S3_SECRET_KEY=not-the-secret-Q7x up "$T_DIR/cover.jpg" --image --s3 "s3://$B/x.jpg" \
  --endpoint "$EP" --path-style --quiet >/dev/null 2>"$T_DIR/badsecret.log" && rc=0 || rc=$?
expect_eq "wrong secret: exit 1" 1 "$rc"
check "wrong secret: SignatureDoesNotMatch reported" grep -q "SignatureDoesNotMatch" "$T_DIR/badsecret.log"
check "wrong secret: error points at the keys" grep -q "secret_key" "$T_DIR/badsecret.log"
check "wrong secret: secret not echoed" bash -c "! grep -q 'not-the-secret-Q7x' '$T_DIR/badsecret.log'"
VODQ_S3_SECRET_KEY=not-the-secret-Q7x up "$T_DIR/big.bin" --s3 "s3://$B/x.bin" --endpoint "$EP" \
  --path-style --part-size 8M --quiet >/dev/null 2>"$T_DIR/badsecret2.log" && rc=0 || rc=$?
expect_eq "wrong secret, multipart: exit 1" 1 "$rc"
check "wrong secret, multipart: names the request" grep -q "InitiateMultipartUpload.*SignatureDoesNotMatch" "$T_DIR/badsecret2.log"

# ---- pause (SIGINT) keeps checkpoint and upload; a rerun resumes
CK=$T_DIR/ck.json
# wait_parts N: the checkpoint lists at least N parts
wait_parts() { [ -f "$CK" ] && [ "$(grep -o '"part:' "$CK" | wc -l)" -ge "$1" ]; }
# start_and_pause KEY N: starts a rate-limited upload, SIGINTs it once N parts
# are checkpointed; its exit status goes to $rc. (Run directly, not through
# up(): the signal must reach vodq-upload itself.)
start_and_pause() {
  $VODQ_WRAP "$UP" "$T_DIR/big.bin" --s3 "s3://$B/$1" --endpoint "$EP" --path-style --part-size 5M \
    --parallel 2 --limit-rate 20M --checkpoint "$CK" --quiet >"$T_DIR/pause-$1.log" 2>&1 &
  local p=$!
  wait_for 20 wait_parts "$2" || true
  kill -INT $p
  wait $p && rc=0 || rc=$?
}
start_and_pause resumed.bin 2
expect_eq "SIGINT pauses (exit 3)" 3 "$rc"
check "paused: checkpoint kept" test -s "$CK"
expect_eq "paused: the upload is still open on the server" 1 "$(count_uploads)"
done_before=$(grep -o '"part:' "$CK" | wc -l)
out=$(up "$T_DIR/big.bin" --s3 "s3://$B/resumed.bin" --endpoint "$EP" --path-style --part-size 5M \
  --checkpoint "$CK" --json --quiet 2>"$T_DIR/resume.log") && ok "resume: exit 0" || not_ok "resume: exit $?"
expect_eq "resume: parts reused from the checkpoint" "$done_before" "$(echo "$out" | jget resumed_parts)"
check "resume: read back equal" readback resumed.bin "$T_DIR/big.bin"
check "resume: checkpoint deleted when complete" test ! -e "$CK"
expect_eq "resume: no upload left open" 0 "$(count_uploads)"

# ---- cancel: abort the multipart upload, delete the checkpoint
start_and_pause cancelled.bin 1
expect_eq "second upload paused" 3 "$rc"
expect_eq "second upload open before cancel" 1 "$(count_uploads)"
up "$T_DIR/big.bin" --s3 "s3://$B/cancelled.bin" --endpoint "$EP" --path-style --part-size 5M \
  --checkpoint "$CK" --cancel --quiet >"$T_DIR/cancel.log" 2>&1 && rc=0 || rc=$?
expect_eq "cancel: exit 5" 5 "$rc"
expect_eq "cancel: ListMultipartUploads is empty" 0 "$(count_uploads)"
check "cancel: checkpoint deleted" test ! -e "$CK"
check "cancel: no object created" bash -c "! curl -sf --netrc-file '$T_DIR/netrc' --aws-sigv4 aws:amz:us-east-1:s3 -H x-amz-content-sha256:UNSIGNED-PAYLOAD -o /dev/null '$EP/$B/cancelled.bin'"

t_done
