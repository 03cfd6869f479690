#!/bin/bash
# upload_oss.sh: vodq-upload to a VOD target (base64 UploadAddress/UploadAuth)
# against the OSS-protocol test server tests/oss_server.py, which checks
# OSS V4 and V1 signatures with its own code and stores what it receives:
#  - image PutObject (V4 and V1), bytes stored equal, CRC-64 verified;
#  - multipart (V4 and V1) of a small video made with ffmpeg, bytes equal,
#    CRC-64 equal to an independent computation, one upload, every part once;
#  - the endpoint override and the Region fallback from the endpoint name;
#  - auth_expiring is reported when ExpireUTCTime is near;
#  - a wrong secret is refused with a clear error that does not echo it.
. "$VODQ_TESTS/lib.sh"

UP=$VODQ_BIN/vodq-upload
[ -x "$UP" ] || { echo "no $UP"; exit 1; }
PY=/usr/bin/python3
OSSD=$T_DIR/oss
mkdir -p "$OSSD"
$PY "$VODQ_TESTS/oss_server.py" --dir "$OSSD" --port 0 --access-key STS.ossak \
  --secret osssecret --token TOK1 --region cn-shanghai >"$T_DIR/oss.log" 2>&1 &
T_PIDS+=("$!")
wait_for 10 test -s "$OSSD/port"
EP=http://127.0.0.1:$(cat "$OSSD/port")
stats() { curl -sf "$EP/__ctl/stats"; }
pystats() { stats | $PY -c "import json,sys; s=json.load(sys.stdin); print($1)"; }
jget() { $PY -c 'import json,sys; print(json.load(sys.stdin)[sys.argv[1]])' "$1"; }
b64() { printf '%s' "$1" | base64 -w0; }
addr() { b64 "{\"Endpoint\":\"${2:-$EP}\",\"Bucket\":\"outin-oss\",\"FileName\":\"$1\"}"; }
auth() { # auth [SECRET] [EXPIRE_UTC] [REGION]
  b64 "{\"AccessKeyId\":\"STS.ossak\",\"AccessKeySecret\":\"${1:-osssecret}\",\"SecurityToken\":\"TOK1\",\"Region\":\"${3:-cn-shanghai}\",\"ExpireUTCTime\":\"${2:-2099-01-01T00:00:00Z}\",\"Expiration\":\"3600\"}"
}
# crc64 FILE: CRC-64/XZ of FILE by the test server's own Python code
# (independent of our C code)
crc64() {
  /usr/bin/python3 -c 'import sys; sys.path.insert(0, sys.argv[1]); from oss_server import crc64
print(crc64(open(sys.argv[2], "rb").read()))' "$VODQ_TESTS" "$1"
}
# stored KEY FILE: the server's stored object equals FILE
stored() { [ -f "$OSSD/objects/outin-oss/$1" ] && cmp -s "$OSSD/objects/outin-oss/$1" "$2"; }

# noise keeps the encoder from compressing it away: about 3 MB, a dozen parts
ffmpeg -loglevel error -f lavfi -i testsrc=size=320x240:rate=25 -f lavfi -i sine=frequency=440 \
  -t 2 -vf noise=alls=80:allf=t -c:v libx264 -preset ultrafast -crf 18 -pix_fmt yuv420p \
  -c:a aac -shortest "$T_DIR/clip.mp4"
ffmpeg -loglevel error -f lavfi -i testsrc=size=320x240 -frames:v 1 "$T_DIR/cover.jpg"
SIZE=$(stat -c %s "$T_DIR/clip.mp4")
PS=262144
NP=$(( (SIZE + PS - 1) / PS ))
echo "# clip.mp4: $SIZE bytes, $NP parts of $PS"
CLIPCRC=$(crc64 "$T_DIR/clip.mp4")

for sig in v4 v1; do
  flag=""
  [ $sig = v1 ] && flag=--v1
  # image: one PutObject
  out=$($VODQ_WRAP "$UP" "$T_DIR/cover.jpg" --image --vod-address "$(addr "image/$sig/cover.jpg")" \
    --vod-auth "$(auth)" --path-style $flag --json --quiet 2>"$T_DIR/img-$sig.log") \
    && ok "$sig image: exit 0" || not_ok "$sig image: exit $? ($(cat "$T_DIR/img-$sig.log"))"
  expect_eq "$sig image: PutObject" 0 "$(echo "$out" | jget parts)"
  check "$sig image: stored bytes equal" stored "image/$sig/cover.jpg" "$T_DIR/cover.jpg"
  expect_eq "$sig image: CRC-64" "$(crc64 "$T_DIR/cover.jpg")" "$(echo "$out" | jget crc64)"
  # video: multipart
  out=$($VODQ_WRAP "$UP" "$T_DIR/clip.mp4" --vod-address "$(addr "sv/$sig/clip.mp4")" \
    --vod-auth "$(auth)" --path-style $flag --part-size $PS --parallel 4 --json --quiet \
    2>"$T_DIR/mp-$sig.log") && ok "$sig multipart: exit 0" || not_ok "$sig multipart: exit $? ($(cat "$T_DIR/mp-$sig.log"))"
  expect_eq "$sig multipart: part count" "$NP" "$(echo "$out" | jget parts)"
  expect_eq "$sig multipart: CRC-64 equals an independent computation" "$CLIPCRC" "$(echo "$out" | jget crc64)"
  check "$sig multipart: stored bytes equal" stored "sv/$sig/clip.mp4" "$T_DIR/clip.mp4"
  uid=$(echo "$out" | jget upload_id)
  expect_eq "$sig multipart: every part sent once" "$(seq -s' ' 1 "$NP")" \
    "$(pystats "' '.join(str(n) for n in sorted(s['parts_by_upload']['$uid']))")"
done
expect_eq "no upload left open" 0 "$(pystats "len(s['uploads_open'])")"

# endpoint override: the address names an unreachable endpoint; --endpoint wins
out=$($VODQ_WRAP "$UP" "$T_DIR/cover.jpg" --image \
  --vod-address "$(addr override/cover.jpg http://127.0.0.1:9)" --vod-auth "$(auth)" \
  --endpoint "$EP" --path-style --json --quiet 2>"$T_DIR/override.log") \
  && ok "endpoint override: exit 0" || not_ok "endpoint override: exit $?"
check "endpoint override: stored" stored override/cover.jpg "$T_DIR/cover.jpg"

# auth_expiring when ExpireUTCTime is close
soon=$(date -u -d '+60 seconds' +%Y-%m-%dT%H:%M:%SZ)
$VODQ_WRAP "$UP" "$T_DIR/cover.jpg" --image --vod-address "$(addr soon/cover.jpg)" \
  --vod-auth "$(auth osssecret "$soon")" --path-style --quiet >/dev/null 2>"$T_DIR/soon.log" \
  && ok "expiring credentials still work" || not_ok "expiring credentials: exit $?"
check "auth_expiring reported" grep -q '^event auth_expiring {"expires_in_s":[1-6][0-9]' "$T_DIR/soon.log"

# wrong secret: clear error, secret never printed
$VODQ_WRAP "$UP" "$T_DIR/cover.jpg" --image --vod-address "$(addr bad/cover.jpg)" \
  --vod-auth "$(auth wrong-secret-9Zq)" --path-style --quiet >/dev/null 2>"$T_DIR/bad.log" \
  && rc=0 || rc=$?
expect_eq "wrong secret: exit 1" 1 "$rc"
check "wrong secret: SignatureDoesNotMatch" grep -q SignatureDoesNotMatch "$T_DIR/bad.log"
check "wrong secret: points at UploadAuth" grep -q "UploadAuth" "$T_DIR/bad.log"
check "wrong secret: not echoed" bash -c "! grep -q wrong-secret-9Zq '$T_DIR/bad.log'"
check "wrong secret: nothing stored" test ! -e "$OSSD/objects/outin-oss/bad/cover.jpg"

t_done
