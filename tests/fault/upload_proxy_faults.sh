#!/bin/bash
# upload_proxy_faults.sh: vodq-upload through tests/faultproxy.py in front of the
# Swift S3 server. Open multipart uploads are counted on the server
# (ListMultipartUploads), never from our own logs.
#  P1. an UploadPart reply cut short (no ETag) is retried; the object is whole;
#  P2. InitiateMultipartUpload whose reply is lost (cut short, or the connection
#      reset after the server created it): no upload id is left open;
#  P3. a server that stops answering a part is noticed within the stall limit
#      (--timeout 3), and with the default limit within 30 s;
#  P4. an upload that fails for good aborts its multipart upload; with a
#      checkpoint it stays open and a rerun resumes and finishes it;
#  P5. a compose killed with -9 leaves OUT.part-XXXXXX; the next attempt removes
#      it, and the worker's start-up sweep (--sweep-dirs) removes old ones;
#  P6. the proxy's --rate-bps throttle holds an upload back.
. "$VODQ_TESTS/lib.sh"

/usr/bin/python3 -c 'import swift' 2>/dev/null || { echo "# swift not installed"; exit 77; }
UP=$VODQ_BIN/vodq-upload
s3_start faults
SW_PORT=${EP##*:}
export VODQ_S3_ACCESS_KEY=test:tester VODQ_S3_SECRET_KEY=testing
head -c $((12 * 1024 * 1024)) /dev/urandom >"$T_DIR/big.bin"
open_uploads() { s3curl -f "$EP/$B?uploads=" | grep -o '<UploadId>' | wc -l; }
readback() { s3curl -f -o "$T_DIR/back" "$EP/$B/$1" && cmp -s "$T_DIR/back" "$T_DIR/big.bin"; }
PXPID=
# px MODE MATCH NTH COUNT [more faultproxy args]: a fresh proxy; sets PX and PXLOG
px() {
  [ -n "$PXPID" ] && kill "$PXPID" 2>/dev/null && wait "$PXPID" 2>/dev/null || true
  local port=${PXPORT:-$(free_port)}
  PXLOG=$T_DIR/px.$port.log
  /usr/bin/python3 "$VODQ_TESTS/faultproxy.py" --listen "$port" --upstream "$SW_PORT" \
    --mode "$1" --match "$2" --nth "$3" --count "$4" --log "$PXLOG" "${@:5}" >"$T_DIR/px.log" 2>&1 &
  PXPID=$!
  T_PIDS+=("$PXPID")
  PX=http://127.0.0.1:$port
  wait_for 10 bash -c "exec 3<>/dev/tcp/127.0.0.1/$port" 2>/dev/null
}
# upl KEY [args]: upload big.bin through the proxy, 5 MiB parts (3 parts)
upl() {
  local key=$1; shift
  $VODQ_WRAP "$UP" "$T_DIR/big.bin" --s3 "s3://$B/$key" --endpoint "$PX" --path-style \
    --part-size 5M --parallel 2 --retry-base-ms 50 --quiet --json "$@"
}

# ---- P1: UploadPart 2's reply without its ETag
px truncate '^PUT .*partNumber=2&' 1 1 --keep-headers 1
rc=0; upl p1.bin >"$T_DIR/p1.out" 2>"$T_DIR/p1.err" || rc=$?
expect_eq "P1 truncated part reply: upload succeeds" 0 "$rc"
check "P1 the object reads back equal" readback p1.bin
expect_eq "P1 part 2 was sent twice" 2 "$(grep -c 'partNumber=2&' "$PXLOG")"
check "P1 the fault was injected" grep -q 'partNumber=2&.* -> truncate' "$PXLOG"
expect_eq "P1 no open upload" 0 "$(open_uploads)"

# ---- P2: the Initiate reply lost (cut, then reset), twice each
for mode in truncate reset; do
  for i in 1; do
    px "$mode" '^POST .*uploads' 1 1 --keep-headers 2
    rc=0; upl "p2-$mode-$i.bin" >"$T_DIR/p2.out" 2>"$T_DIR/p2.err" || rc=$?
    expect_eq "P2 initiate reply $mode ($i): upload succeeds" 0 "$rc"
    check "P2 initiate reply $mode ($i): object equal" readback "p2-$mode-$i.bin"
    check "P2 initiate reply $mode ($i): the fault was injected" grep -q "POST .* -> $mode" "$PXLOG"
  done
done
expect_eq "P2 no upload id left open after 2 lost Initiate replies" 0 "$(open_uploads)"

# ---- P3: a silent server: the time from the stalled request to its retry
# stall_gap: seconds between the first and the second "PUT ...partNumber=1&" at the proxy
stall_gap() { awk '/PUT .*partNumber=1&/ { t[n++] = $2 } END { if (n < 2) print 999; else printf "%.1f", t[1] - t[0] }' "$PXLOG"; }
px stall '^PUT .*partNumber=1&' 1 1
rc=0; upl p3.bin --timeout 3 >"$T_DIR/p3.out" 2>"$T_DIR/p3.err" || rc=$?
expect_eq "P3 stalled part, --timeout 3: upload succeeds" 0 "$rc"
g=$(stall_gap)
check "P3 the stall is noticed and the part sent again within 3-6 s ($g s)" awk -v d="$g" 'BEGIN { exit !(d >= 2.9 && d < 6) }'
check "P3 the object reads back equal" readback p3.bin
px stall '^PUT .*partNumber=1&' 1 1
rc=0; upl p3d.bin >"$T_DIR/p3d.out" 2>"$T_DIR/p3d.err" || rc=$?
expect_eq "P3 default stall limit: upload succeeds" 0 "$rc"
g=$(stall_gap)
check "P3 default limit: noticed and retried within 30 s ($g s)" awk -v d="$g" 'BEGIN { exit !(d < 30) }'
expect_eq "P3 no open upload" 0 "$(open_uploads)"

# ---- P4: every part reset: the run fails
px reset '^PUT .*partNumber=' 1 1000
rc=0; upl p4.bin --max-attempts 2 >"$T_DIR/p4.out" 2>"$T_DIR/p4.err" || rc=$?
expect_eq "P4 parts always reset: the upload fails" 1 "$rc"
expect_eq "P4 without a checkpoint the multipart upload is aborted" 0 "$(open_uploads)"
PXPORT=$(free_port) px reset '^PUT .*partNumber=' 1 1000
rc=0; upl p4c.bin --max-attempts 2 --checkpoint "$T_DIR/p4.ckpt" >"$T_DIR/p4c.out" 2>"$T_DIR/p4c.err" || rc=$?
expect_eq "P4 with a checkpoint: fails too" 1 "$rc"
expect_eq "P4 with a checkpoint the upload stays open for the resume" 1 "$(open_uploads)"
PXPORT=${PX##*:} px none . 1 1 # the same endpoint, no faults (the checkpoint names its target)
rc=0; upl p4c.bin --checkpoint "$T_DIR/p4.ckpt" >/dev/null 2>"$T_DIR/p4r.err" || rc=$?
expect_eq "P4 the rerun resumes and finishes" 0 "$rc"
check "P4 the resumed object reads back equal" readback p4c.bin
expect_eq "P4 nothing left open" 0 "$(open_uploads)"

# ---- P6: the proxy's throttle (for benchmarks): 12 MiB at 6 MB/s take at least 2 s
px none . 1 1 --rate-bps 6000000
t0=$(date +%s.%N)
rc=0; upl p6.bin >/dev/null 2>"$T_DIR/p6.err" || rc=$?
dt=$(awk -v a="$t0" -v b="$(date +%s.%N)" 'BEGIN { printf "%.1f", b - a }')
expect_eq "P6 throttled upload succeeds" 0 "$rc"
check "P6 --rate-bps 6000000 holds 12 MiB back for >= 2 s ($dt s)" awk -v d="$dt" 'BEGIN { exit !(d >= 2.0) }'

# ---- P5: partial files of a killed compose
CMP=$VODQ_BIN/vodq-compose
mkdir -p "$T_DIR/media" "$T_DIR/out"
ffmpeg -loglevel error -f lavfi -i testsrc2=size=640x360:rate=30 -t 8 -c:v libx264 -preset ultrafast \
  -pix_fmt yuv420p "$T_DIR/media/a.mp4"
cat >"$T_DIR/slow.json" <<JSON
{"version":1,"tracks":[{"clips":[{"type":"video","src":"$T_DIR/media/a.mp4"}]}],
 "output":{"width":1280,"height":720,"fps":30,"preset":"medium","crf":18}}
JSON
"$CMP" "$T_DIR/slow.json" "$T_DIR/out/v.mp4" >/dev/null 2>&1 & cp=$!
wait_for 30 bash -c "ls '$T_DIR/out' | grep -q '^v.mp4.part-'" || true
sleep 0.5; kill -9 "$cp" 2>/dev/null; wait "$cp" 2>/dev/null || true
check "P5 kill -9 left a partial file" bash -c "ls '$T_DIR/out' | grep -q '^v.mp4.part-'"
sed 's/"preset":"medium","crf":18/"preset":"ultrafast","crf":35/' "$T_DIR/slow.json" >"$T_DIR/fast.json"
check "P5 the next attempt renders" "$CMP" "$T_DIR/fast.json" "$T_DIR/out/v.mp4"
check "P5 and removes the old partial file" bash -c "! ls '$T_DIR/out' | grep -q part-"
touch "$T_DIR/out/w.mp4.part-AbC123" "$T_DIR/out/young.mp4.part-XyZ789" "$T_DIR/out/keep.mp4"
touch -d '-20 min' "$T_DIR/out/w.mp4.part-AbC123"
redis_start
start_worker w1 --slots-compose 1 --slots-upload 0 --slots-sleep 0 --cache-dir "$T_DIR/wcache" \
  --sweep-dirs "$T_DIR/out:$T_DIR/nonexistent"
check "P5 the worker's start-up sweep removes an old partial file" wait_for 20 test ! -e "$T_DIR/out/w.mp4.part-AbC123"
check "P5 and keeps a young one (a render in progress elsewhere)" test -e "$T_DIR/out/young.mp4.part-XyZ789"
check "P5 and other files" test -e "$T_DIR/out/keep.mp4"
t_done
