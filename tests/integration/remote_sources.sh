#!/bin/bash
# remote_sources.sh: timelines whose sources are URLs, fetched into the cache.
#  - http:// from tests/http_source.py (Range, ETag, 404, stall): ranged parallel
#    reads (server log shows 206 replies), the cache file equals the source, a
#    second render is a cache hit (no GET), two renders at once fetch once;
#  - a 404 with a signed-looking query fails naming the URL without the query,
#    leaves no output; a stalled server fails within the stall bound;
#  - s3:// from the Swift S3 server with credentials from --inputs, and a wrong
#    secret refused (403) without echoing it;
#  - progressive: a faststart MP4 from a slow server renders with the framemd5 of
#    the local file's render (and with progressive off); a timeline using only the
#    head renders though the server stalls after half the file; a server closing
#    mid-download fails naming the URL without its query, no partial cache entry;
#  - the worker: a compose job with compose.inputs and an s3:// clip, an http
#    overlay and an http caption font succeeds; a 404 goes dead after one attempt.
. "$VODQ_TESTS/lib.sh"

CMP=$VODQ_BIN/vodq-compose
W=$T_DIR/www; mkdir -p "$W"
ffmpeg -loglevel error -f lavfi -i testsrc2=size=320x240:rate=30 -f lavfi -i sine=f=440 -t 3 \
  -c:v libx264 -preset ultrafast -pix_fmt yuv420p -c:a aac -shortest "$W/clip.mp4"
cp "$W/clip.mp4" "$W/clip3.mp4"
ffmpeg -loglevel error -f lavfi -i testsrc2=size=320x240:rate=30 -f lavfi -i sine=f=660 -t 3 \
  -c:v libx264 -preset ultrafast -pix_fmt yuv420p -c:a aac -shortest "$W/clip2.mp4"
ffmpeg -loglevel error -f lavfi -i color=c=red:s=64x64 -frames:v 1 "$W/logo.png"
cp /usr/share/fonts/truetype/dejavu/DejaVuSans.ttf "$W/font.ttf"
HP=$(free_port)
/usr/bin/python3 "$VODQ_TESTS/http_source.py" "$W" "$HP" "$T_DIR/req.log" >"$T_DIR/http.log" 2>&1 &
T_PIDS+=("$!")
wait_for 10 curl -sf -o /dev/null -I "http://127.0.0.1:$HP/clip.mp4" || { echo "http server did not start"; exit 1; }
URL=http://127.0.0.1:$HP
timeline() { # timeline SRC
  cat <<JSON
{"version":1,"tracks":[{"clips":[{"type":"video","src":"$1","in":0.5,"out":2.5}]}],
 "output":{"width":320,"height":240,"fps":30,"preset":"ultrafast","crf":30}}
JSON
}
frames() { ffprobe -v error -count_frames -select_streams v:0 -show_entries stream=nb_read_frames -of csv=p=0 "$1"; }
C=(timeout 120 $VODQ_WRAP "$CMP" --cache-dir "$T_DIR/cache" --fetch-range-bytes 131072)

# ---- http: ranged parallel reads into the cache, then a cache hit
timeline "$URL/clip.mp4?sig=abc" >"$T_DIR/t1.json"
check "http source renders" "${C[@]}" "$T_DIR/t1.json" "$T_DIR/o1.mp4" 2>"$T_DIR/c1.log"
expect_eq "60 frames from a 2 s trim" 60 "$(frames "$T_DIR/o1.mp4")"
n206=$(grep -c "^GET /clip.mp4?sig=abc range=bytes=.* status=206" "$T_DIR/req.log" || true)
size=$(stat -c %s "$W/clip.mp4")
expect_eq "ranged GETs of 128 KiB cover the file" $(((size + 131071) / 131072)) "$n206"
cached=$(ls "$T_DIR/cache" | grep '\.mp4$')
check "the cache file equals the source" cmp -s "$T_DIR/cache/$cached" "$W/clip.mp4"
check "no temp file left in the cache" bash -c "! ls '$T_DIR/cache' | grep -q part-"
before=$(grep -c "^GET " "$T_DIR/req.log")
timeline "$URL/clip.mp4?sig=other" >"$T_DIR/t2.json"
check "second render (another signature of the same object)" "${C[@]}" "$T_DIR/t2.json" "$T_DIR/o2.mp4" 2>"$T_DIR/c2.log"
expect_eq "served from the cache: no GET" "$before" "$(grep -c "^GET " "$T_DIR/req.log")"

# ---- two renders at once want the same new object: one download
timeline "$URL/clip2.mp4" >"$T_DIR/t3.json"
"${C[@]}" "$T_DIR/t3.json" "$T_DIR/o3a.mp4" 2>"$T_DIR/c3a.log" & p1=$!
"${C[@]}" "$T_DIR/t3.json" "$T_DIR/o3b.mp4" 2>"$T_DIR/c3b.log" & p2=$!
wait $p1 && wait $p2 && ok "two concurrent renders succeed" || not_ok "two concurrent renders succeed"
size2=$(stat -c %s "$W/clip2.mp4")
expect_eq "clip2 downloaded once" $(((size2 + 131071) / 131072)) "$(grep -c "^GET /clip2.mp4 " "$T_DIR/req.log")"

# ---- a source without ranges (fits one request) and the overlay + caption font kinds
cat >"$T_DIR/t4.json" <<JSON
{"version":1,"tracks":[{"clips":[{"type":"video","src":"$URL/clip3.mp4","out":1}]}],
 "overlays":[{"src":"$URL/logo.png","anchor":"top-left","width":64}],
 "captions":[{"text":"remote font","font":"$URL/font.ttf","size":24}],
 "output":{"width":320,"height":240,"fps":30,"preset":"ultrafast","crf":30}}
JSON
check "overlay and caption font over http" timeout 120 $VODQ_WRAP "$CMP" --cache-dir "$T_DIR/cache" "$T_DIR/t4.json" "$T_DIR/o4.mp4" 2>"$T_DIR/c4.log"
px=$(ffmpeg -v error -i "$T_DIR/o4.mp4" -frames:v 1 -vf "crop=8:8:20:20,scale=1:1,format=rgb24" -f rawvideo - | od -An -tu1 | tr -s ' ' | sed 's/^ //')
check "the red overlay is drawn ($px)" bash -c "set -- $px; [ \$1 -gt 200 ] && [ \$2 -lt 60 ] && [ \$3 -lt 60 ]"
check "clip3 in one plain GET" grep -q "^GET /clip3.mp4 range= status=200" "$T_DIR/req.log"

# ---- a URL signed for GET only: HEAD is refused (403), the GET still fetches it
timeline "$URL/getonly/clip3.mp4?X-Sig=abc" >"$T_DIR/tg.json"
check "GET-only signed URL renders" "${C[@]}" "$T_DIR/tg.json" "$T_DIR/og.mp4" 2>"$T_DIR/cg.log"
expect_eq "GET-only: 60 frames" 60 "$(frames "$T_DIR/og.mp4")"

# ---- LRU eviction: a cache smaller than two files keeps only the newest
E=(timeout 120 $VODQ_WRAP "$CMP" --cache-dir "$T_DIR/cache-lru" --cache-max-bytes $((size + size2 - 1)))
timeline "$URL/clip.mp4" >"$T_DIR/tl1.json"; timeline "$URL/clip2.mp4" >"$T_DIR/tl2.json"
check "lru: first render" "${E[@]}" "$T_DIR/tl1.json" "$T_DIR/ol1.mp4" 2>"$T_DIR/cl1.log"
touch -d '-1 min' "$T_DIR/cache-lru/"*.mp4
check "lru: second render" "${E[@]}" "$T_DIR/tl2.json" "$T_DIR/ol2.mp4" 2>"$T_DIR/cl2.log"
expect_eq "lru: one file kept under the bound" 1 "$(ls "$T_DIR/cache-lru" | grep -c '\.mp4$')"
check "lru: the kept one is the newest (clip2)" cmp -s "$T_DIR/cache-lru/$(ls "$T_DIR/cache-lru" | grep '\.mp4$')" "$W/clip2.mp4"

# ---- a 404: the URL is named, its query string is not, no output is left
timeline "$URL/missing.mp4?token=SEKRET-Q-77" >"$T_DIR/t5.json"
rc=0; "${C[@]}" "$T_DIR/t5.json" "$T_DIR/o5.mp4" 2>"$T_DIR/c5.log" || rc=$?
expect_eq "a 404 fails (exit 1)" 1 "$rc"
check "the error names the URL" grep -q "$URL/missing.mp4" "$T_DIR/c5.log"
check "the error says 404" grep -q "404" "$T_DIR/c5.log"
check "the error names the JSON path" grep -q "tracks\[0\].clips\[0\].src: source $URL/missing.mp4" "$T_DIR/c5.log"
check "the query string is not printed" bash -c "! grep -q SEKRET '$T_DIR/c5.log'"
check "no output file" test ! -e "$T_DIR/o5.mp4"
expect_eq "a 404 is not retried" 1 "$(grep -c "^HEAD /missing.mp4" "$T_DIR/req.log")"

# ---- a server that stops sending: fails within the stall bound (2 s, 2 attempts)
timeline "$URL/stall/clip.mp4?token=SEKRET-S" >"$T_DIR/t6.json"
t0=$(date +%s)
rc=0; timeout 120 "$CMP" --cache-dir "$T_DIR/cache" --fetch-stall-s 2 --fetch-attempts 2 "$T_DIR/t6.json" "$T_DIR/o6.mp4" 2>"$T_DIR/c6.log" || rc=$?
dt=$(($(date +%s) - t0))
expect_eq "a stalled source fails (exit 1)" 1 "$rc"
check "within the bound: 2 x 2 s stall + backoff ($dt s)" test "$dt" -lt 15
check "the stall error names the URL" grep -q "$URL/stall/clip.mp4" "$T_DIR/c6.log"
check "no query string in the stall error" bash -c "! grep -q SEKRET '$T_DIR/c6.log'"
check "no output file, no temp file" bash -c "[ ! -e '$T_DIR/o6.mp4' ] && ! ls '$T_DIR/cache' | grep -q part-"

# ---- progressive: a faststart MP4 decodes while it downloads (a slow server, 400 kB/s)
ffmpeg -loglevel error -f lavfi -i testsrc2=size=320x240:rate=30 -f lavfi -i sine=f=550 -t 6 \
  -c:v libx264 -preset ultrafast -pix_fmt yuv420p -c:a aac -shortest -movflags +faststart "$W/fast.mp4"
for n in 2 3 4; do cp "$W/fast.mp4" "$W/fast$n.mp4"; done
SP=$(free_port)
/usr/bin/python3 "$VODQ_TESTS/http_source.py" "$W" "$SP" "$T_DIR/sreq.log" 400000 >"$T_DIR/shttp.log" 2>&1 &
T_PIDS+=("$!")
wait_for 10 curl -sf -o /dev/null -I "http://127.0.0.1:$SP/fast.mp4" || { echo "slow http server did not start"; exit 1; }
SURL=http://127.0.0.1:$SP
md5s() { ffmpeg -v error -i "$1" -f framemd5 - | md5sum | cut -d' ' -f1; }
timeline "$W/fast.mp4" >"$T_DIR/tpl.json"
check "progressive: the local render" "${C[@]}" "$T_DIR/tpl.json" "$T_DIR/opl.mp4" 2>"$T_DIR/cpl.log"
timeline "$SURL/fast.mp4?sig=p" >"$T_DIR/tp.json"
P=(timeout 120 $VODQ_WRAP "$CMP" --fetch-range-bytes 131072 --json)
rc=0; "${P[@]}" --cache-dir "$T_DIR/pcache" "$T_DIR/tp.json" "$T_DIR/op.mp4" >"$T_DIR/op.json" 2>"$T_DIR/cp.log" || rc=$?
expect_eq "progressive: the render of the URL" 0 "$rc"
expect_eq "progressive: the same frames and samples as the local render (framemd5)" "$(md5s "$T_DIR/opl.mp4")" "$(md5s "$T_DIR/op.mp4")"
check "progressive: the result has ttff_ms" python3 -c "
import json,sys; r=json.load(open(sys.argv[1])); assert r['ttff_ms'] > 0, r" "$T_DIR/op.json"
check "progressive: no temp file left" bash -c "! ls '$T_DIR/pcache' | grep -q part-"
check "progressive: a cache entry, when any, is the whole file" bash -c "for f in '$T_DIR'/pcache/*.mp4; do [ -e \"\$f\" ] || continue; cmp -s \"\$f\" '$W/fast.mp4' || exit 1; done"
timeline "$SURL/fast2.mp4" >"$T_DIR/tn.json"
echo '{"progressive":false}' >"$T_DIR/np.json"
check "progressive off (inputs.progressive false): renders" "${P[@]}" --inputs "$T_DIR/np.json" --cache-dir "$T_DIR/ncache" "$T_DIR/tn.json" "$T_DIR/on.mp4" 2>"$T_DIR/cn.log"
expect_eq "progressive off: the same framemd5" "$(md5s "$T_DIR/opl.mp4")" "$(md5s "$T_DIR/on.mp4")"
check "progressive off: the whole file is cached" cmp -s "$T_DIR/ncache/$(ls "$T_DIR/ncache" | grep '\.mp4$')" "$W/fast2.mp4"
# only the head is needed: the server sends half of the file and then stalls; a
# timeline using the first second renders from the growing file (a full download
# could never end), and the download stopped after it leaves no cache entry
cat >"$T_DIR/th.json" <<JSON
{"version":1,"tracks":[{"clips":[{"type":"video","src":"$SURL/halfstall/fast3.mp4","out":1}]}],
 "output":{"width":320,"height":240,"fps":30,"preset":"ultrafast","crf":30}}
JSON
check "progressive: renders from the first half while the rest never comes" \
  "${P[@]}" --fetch-stall-s 100 --cache-dir "$T_DIR/hcache" "$T_DIR/th.json" "$T_DIR/oh.mp4" 2>"$T_DIR/ch.log"
expect_eq "progressive: 30 frames from the head" 30 "$(frames "$T_DIR/oh.mp4")"
check "progressive: the unfinished download leaves no cache entry nor temp file" \
  bash -c "! ls '$T_DIR/hcache' | grep -q -e '\.mp4$' -e part-"
# a server that closes mid-download: the render fails naming the URL without its
# query string, and no partial cache entry is left
cat >"$T_DIR/tt.json" <<JSON
{"version":1,"tracks":[{"clips":[{"type":"video","src":"$SURL/trunc/fast4.mp4?sig=SEKRET-TR"}]}],
 "output":{"width":320,"height":240,"fps":30,"preset":"ultrafast","crf":30}}
JSON
rc=0; "${P[@]}" --fetch-attempts 2 --cache-dir "$T_DIR/tcache" "$T_DIR/tt.json" "$T_DIR/ot.mp4" 2>"$T_DIR/ct.log" || rc=$?
expect_eq "truncated source: the render fails" 1 "$rc"
check "truncated source: the error names the URL" grep -q "source $SURL/trunc/fast4.mp4: download failed" "$T_DIR/ct.log"
check "truncated source: no query string in the error" bash -c "! grep -q SEKRET '$T_DIR/ct.log'"
check "truncated source: no output, no cache entry, no temp file" \
  bash -c "[ ! -e '$T_DIR/ot.mp4' ] && ! ls '$T_DIR/tcache' | grep -q -e '\.mp4$' -e part-"

# ---- s3:// from the Swift S3 server
if /usr/bin/python3 -c 'import swift' 2>/dev/null; then
  s3_start srcbkt
  s3curl -f -X PUT -T "$W/clip.mp4" "$EP/$B/media/clip.mp4" >/dev/null
  printf '{"endpoint":"%s","path_style":true,"access_key":"test:tester","secret_key":"testing"}' "$EP" >"$T_DIR/in.json"
  timeline "s3://$B/media/clip.mp4" >"$T_DIR/t7.json"
  check "s3 source renders" timeout 120 $VODQ_WRAP "$CMP" --cache-dir "$T_DIR/cache7" --fetch-range-bytes 262144 \
    --inputs "$T_DIR/in.json" "$T_DIR/t7.json" "$T_DIR/o7.mp4" 2>"$T_DIR/c7.log"
  expect_eq "60 frames from the s3 source" 60 "$(frames "$T_DIR/o7.mp4")"
  check "the s3 cache file equals the object" cmp -s "$T_DIR/cache7/$(ls "$T_DIR/cache7" | grep '\.mp4$')" "$W/clip.mp4"
  printf '{"endpoint":"%s","path_style":true,"access_key":"test:tester","secret_key":"WRONG-SECRET-9"}' "$EP" >"$T_DIR/bad.json"
  rc=0; timeout 120 "$CMP" --cache-dir "$T_DIR/cache8" --inputs "$T_DIR/bad.json" "$T_DIR/t7.json" "$T_DIR/o8.mp4" 2>"$T_DIR/c8.log" || rc=$?
  expect_eq "a wrong secret fails" 1 "$rc"
  check "names the s3 URL and 403" grep -q "s3://$B/media/clip.mp4: HTTP 403" "$T_DIR/c8.log"
  check "does not echo the secret" bash -c "! grep -q WRONG-SECRET '$T_DIR/c8.log'"

  # ---- through the queue: compose.inputs, progress counts the fetch
  redis_start
  start_scheduler s1
  start_worker w1 --slots-compose 1 --slots-upload 0 --slots-sleep 0 --progress-ms 50 --cache-dir "$T_DIR/wcache"
  mkdir -p "$T_DIR/out"
  tl='{"version":1,"tracks":[{"clips":[{"type":"video","src":"s3://'$B'/media/clip.mp4","out":2}]}],
       "overlays":[{"src":"'$URL'/logo.png","width":32}],
       "output":{"width":320,"height":240,"fps":30,"preset":"ultrafast","crf":30}}'
  printf '{"id":"r1","type":"compose","compose":{"timeline":%s,"output":"%s","inputs":%s}}' \
    "$tl" "$T_DIR/out/r1.mp4" "$(cat "$T_DIR/in.json")" | ctl submit - >/dev/null
  check "worker: s3 + http sources compose" wait_state r1 succeeded 120
  expect_eq "worker: 60 frames" 60 "$(frames "$T_DIR/out/r1.mp4")"
  check "worker: a fetch phase was reported" bash -c "redis-cli -p $REDIS_PORT XRANGE 'vodq:{default}:events' - + | grep -q '\"phase\":\"fetch\"'"
  check "worker log has no secret" bash -c "! grep -q testing '$T_DIR/w1.log'"
  printf '{"id":"r3","type":"compose","compose":{"timeline":%s,"output":"%s"}}' \
    "$(timeline "$SURL/fast.mp4?sig=w")" "$T_DIR/out/r3.mp4" | ctl submit - >/dev/null
  check "worker: a progressive source composes" wait_state r3 succeeded 120
  expect_eq "worker: progressive render, framemd5 of the local render" "$(md5s "$T_DIR/opl.mp4")" "$(md5s "$T_DIR/out/r3.mp4")"
  check "worker: the result has ttff_ms" grep -q '"ttff_ms":[1-9]' <<<"$(job_field r3 result)"
  # the download goes on after the render (if that ended first) and completes the entry
  wcached() { for f in "$T_DIR"/wcache/*.mp4; do cmp -s "$f" "$W/fast.mp4" && return 0; done; return 1; }
  check "worker: the progressive source ends up whole in the cache" wait_for 60 wcached
  check "worker: no temp file left" bash -c "! ls '$T_DIR/wcache' | grep -q part-"
  printf '{"id":"r4","type":"compose","compose":{"timeline":%s,"output":"%s"}}' \
    "$(timeline "$SURL/fast.mp4?sig=w2")" "$T_DIR/out/r4.mp4" | ctl submit - >/dev/null
  check "worker: the same object again" wait_state r4 succeeded 120
  expect_eq "worker: fetched once (one GET for both jobs)" 1 "$(grep -c '^GET /fast.mp4?sig=w' "$T_DIR/sreq.log")"
  printf '{"id":"r2","type":"compose","max_attempts":3,"compose":{"timeline":%s,"output":"%s"}}' \
    "$(timeline "$URL/gone.mp4?X-Sig=SEKRET-W")" "$T_DIR/out/r2.mp4" | ctl submit - >/dev/null
  check "worker: a 404 source goes dead" wait_state r2 dead 60
  expect_eq "worker: after one attempt" 1 "$(job_field r2 attempts)"
  e=$(job_field r2 error)
  check "worker: the error names the URL without its query ($e)" bash -c "grep -q '$URL/gone.mp4' <<<'$e' && ! grep -q SEKRET <<<'$e'"
  check "worker: no output file" bash -c "! ls '$T_DIR/out' | grep -q r2"
else
  echo "# swift not installed: s3 and worker parts skipped"
fi
t_done
