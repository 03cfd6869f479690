#!/bin/bash
# The Lua scripts called directly: every script run twice with the same arguments and
# request id changes nothing the second time and answers the same; a malformed job hash
# sends only that job to the dead letters with code "corrupt" naming the field; the
# retry delay formula; an id on the submit entry only; a "then" child reaches its lane.
. "$VODQ_TESTS/lib.sh"
redis_start
Q='vodq:{default}:'
submit() { # submit ID [LANE] [SPEC] [REQUIRE]: creates a queued job through submit.lua
  local spec=${3:-"{\"id\":\"$1\",\"type\":\"sleep\",\"sleep\":{\"ms\":0}}"}
  lua submit "" "$1" sleep "$spec" queued "" 3 0 100 1000 "" "" "${2:-sleep}" 0 60 "${4:-}"
}
events() { rcli XRANGE "${Q}events" - + | python3 -c '
import sys
l = [x.rstrip("\n") for x in sys.stdin]
for i in range(len(l) - 7):
    if l[i] == "job" and l[i+2] == "type" and l[i+4] == "state":
        print(l[i+1], l[i+3], l[i+5])'; }
count_ev() { events | grep -c "^$1 $2 $3\$" || true; }
for g in workers; do rcli XGROUP CREATE "${Q}tasks:sleep" $g 0 MKSTREAM >/dev/null; done
rcli XGROUP CREATE "${Q}tasks:compose_gpu" workers 0 MKSTREAM >/dev/null
rcli XGROUP CREATE "${Q}tasks:compose" workers 0 MKSTREAM >/dev/null

# ---- 1. replay: the same call twice -------------------------------------------------
a=$(lua submit "c1|1" r1 sleep '{"id":"r1","type":"sleep","sleep":{"ms":0}}' queued "" 3 0 100 1000 "" "" sleep 0 60 "")
b=$(lua submit "c1|1" r1 sleep '{"id":"r1","type":"sleep","sleep":{"ms":0}}' queued "" 3 0 100 1000 "" "" sleep 0 60 "")
expect_eq "submit replay answers the same" "$a" "$b"
expect_eq "submit replay: one job counted" 1 "$(rcli HGET "${Q}stats" submitted)"
expect_eq "submit replay: one task entry" 1 "$(rcli XLEN "${Q}tasks:sleep")"
claim1=$(lua step "c2|1" w1 sleep 5 0 0 "")
claim2=$(lua step "c2|1" w1 sleep 5 0 0 "")
expect_eq "claim replay answers the same" "$claim1" "$claim2"
check "the claim returned job r1" grep -q '^r1$' <<<"$claim1"
expect_eq "claim replay: one pending entry" 1 "$(rcli XPENDING "${Q}tasks:sleep" workers | head -1)"
expect_eq "claim replay: one active event" 1 "$(count_ev r1 state active)"
fence=$(job_field r1 fence)
p1=$(lua report "c2|2" r1 "$fence" progress 50 '{"done":1,"total":2}')
p2=$(lua report "c2|2" r1 "$fence" progress 50 '{"done":1,"total":2}')
expect_eq "report replay answers the same" "$p1" "$p2"
expect_eq "report replay: one progress event" 1 "$(count_ev r1 progress active)"
h1=$(lua heartbeat "c3|1" w1 '{}' 60 1 r1 "$fence" sleep)
h2=$(lua heartbeat "c3|1" w1 '{}' 60 1 r1 "$fence" sleep)
expect_eq "heartbeat replay answers the same" "$h1" "$h2"
check "heartbeat: lease ok" grep -qx ok <<<"$h1"
f1=$(lua step "c2|3" w1 sleep 0 0 1 r1 "$fence" ok '{"slept_ms":0}' "" "" "" "" "")
f2=$(lua step "c2|3" w1 sleep 0 0 1 r1 "$fence" ok '{"slept_ms":0}' "" "" "" "" "")
expect_eq "finish replay answers the same" "$f1" "$f2"
f3=$(lua step "c2|4" w1 sleep 0 0 1 r1 "$fence" ok '{"slept_ms":0}' "" "" "" "" "")
expect_eq "finish sent again under a new request id: 'done', nothing written" "done" "$f3"
expect_eq "finish replay: one succeeded event" 1 "$(count_ev r1 state succeeded)"
expect_eq "finish replay: counted once" 1 "$(rcli HGET "${Q}stats" succeeded)"
submit r2 >/dev/null
c1=$(lua control "c4|1" r2 pause "")
c2=$(lua control "c4|1" r2 pause "")
expect_eq "control replay answers the same" "$c1" "$c2"
check "control: paused" grep -qx paused <<<"$c1"
expect_eq "control replay: one paused event" 1 "$(count_ev r2 state paused)"
c1=$(lua control "c4|2" r2 cancel "")
c2=$(lua control "c4|2" r2 cancel "")
expect_eq "cancel replay answers the same ('cancelled', not 'cannot cancel')" "$c1" "$c2"
expect_eq "cancel replay: counted once" 1 "$(rcli HGET "${Q}stats" cancelled)"
r1=$(lua promote "c5|1" 10)
r2=$(lua promote "c5|1" 10)
expect_eq "promote replay answers the same" "$r1" "$r2"
expect_eq "replies are kept per channel (one key per channel)" 5 "$(rcli --scan --pattern "${Q}reply:*" | wc -l)"

# ---- 2. malformed job hashes ----------------------------------------------------------
for j in g1 g2 g3 g4 g5; do submit $j >/dev/null; done
rcli HSET "${Q}job:g1" fence x >/dev/null
rcli HSET "${Q}job:g2" attempts 1.5 >/dev/null
rcli HDEL "${Q}job:g3" spec >/dev/null
rcli HDEL "${Q}job:g4" state >/dev/null
out=$(lua step "c6|1" w1 sleep 10 0 0 "")
check "the good job of the claim started" grep -qx g5 <<<"$out"
for j in g1:fence g2:attempts g3:spec g4:state; do
  id=${j%%:*} field=${j##*:}
  expect_eq "claim: $id is dead" dead "$(job_field $id state)"
  expect_eq "claim: $id code corrupt" corrupt "$(job_field $id error_code)"
  check "claim: $id error names field $field ($(job_field $id error))" \
    grep -q "field $field" <<<"$(job_field $id error)"
done
expect_eq "claim: g5 active" active "$(job_field g5 state)"
submit h1 >/dev/null; submit h2 >/dev/null; submit h3 >/dev/null
lua step "c6|2" w1 sleep 10 0 0 "" >/dev/null
rcli HSET "${Q}job:h1" max_attempts '?' >/dev/null
rcli HDEL "${Q}job:h3" lane >/dev/null
fin=$(lua step "c6|3" w1 sleep 0 0 3 h1 1 ok '{}' "" "" "" "" h2 1 ok '{}' "" "" "" "" h3 1 fail io boom 1 0.5 "" "")
expect_eq "finish statuses" "corrupt ok corrupt" "$(echo $fin)"
expect_eq "finish: h1 dead corrupt" "dead corrupt" "$(job_field h1 state) $(job_field h1 error_code)"
check "finish: h1 names max_attempts" grep -q "field max_attempts" <<<"$(job_field h1 error)"
expect_eq "finish: h2 (same call) succeeded once" "succeeded 1" "$(job_field h2 state) $(count_ev h2 state succeeded)"
check "finish: h3 names lane" grep -q "field lane" <<<"$(job_field h3 error)"
submit d1 >/dev/null
rcli HSET "${Q}job:d1" state delayed >/dev/null
rcli HDEL "${Q}job:d1" lane >/dev/null
rcli ZADD "${Q}delayed" 0 d1 >/dev/null
lua promote "c6|4" 10 >/dev/null
expect_eq "a delayed job with no lane: dead corrupt, not delayed forever" "dead corrupt" \
  "$(job_field d1 state) $(job_field d1 error_code)"
expect_eq "promote: delayed set empty" 0 "$(rcli ZCARD "${Q}delayed")"
check "g5 untouched by all that" test "$(job_field g5 state)" = active
submit s1 >/dev/null
lua step "c6|5" w1 sleep 10 0 0 "" >/dev/null
rcli HSET "${Q}job:s1" attempts zz >/dev/null
lua reclaim "c6|6" sleep sched 0 100 0-0 >/dev/null
expect_eq "reclaim of a job with attempts 'zz': dead corrupt" "dead corrupt" \
  "$(job_field s1 state) $(job_field s1 error_code)"
dl=$(rcli XLEN "${Q}dead")
expect_eq "dead letters: one per corrupt job" 8 "$dl"

# ---- 3. the retry delay (the one formula, in step.lua) ---------------------------------
for jit in 0 0.5 0.999; do
  rcli DEL "${Q}job:b1" >/dev/null
  submit b1 sleep '{"id":"b1","type":"sleep","sleep":{"ms":0}}' >/dev/null
  rcli HSET "${Q}job:b1" attempts 2 max_attempts 9 backoff_base_ms 1000 backoff_max_ms 3000 >/dev/null
  lua step "" w1 sleep 5 0 0 "" >/dev/null
  f=$(job_field b1 fence)
  lua step "" w1 sleep 0 0 1 b1 "$f" fail io x 1 $jit "" "" >/dev/null
  d=$(( $(job_field b1 retry_at) - $(job_field b1 updated_at) ))
  # attempt 3: min(1000 * 2^2, 3000) = 3000, half fixed, half jittered
  want=$(python3 -c "print(int(3000/2 + 3000/2*$jit))")
  expect_eq "backoff after attempt 3, jitter $jit" "$want" "$d"
done

# ---- 4. a "then" child goes to the lane chosen at validation (compose_gpu) ------------
spec='{"id":"p1","type":"sleep","sleep":{"ms":0},"then":[{"type":"compose","lane":"compose_gpu","compose":{"gpu":true,"output":"/tmp/x.mp4","timeline":{}}}]}'
submit p1 sleep "$spec" >/dev/null
out=$(lua step "" w1 sleep 5 0 0 "")
f=$(job_field p1 fence)
lua step "" w1 sleep 0 0 1 p1 "$f" ok '{}' "" "" "" "" "" >/dev/null
expect_eq "then child on the compose_gpu lane" "compose_gpu queued" \
  "$(job_field p1.then1 lane) $(job_field p1.then1 state)"
expect_eq "then child entry in tasks:compose_gpu" 1 "$(rcli XLEN "${Q}tasks:compose_gpu")"
expect_eq "then child spec without our lane field" 0 "$(job_field p1.then1 spec | grep -c lane)"

# ---- 5. capability tags: a job requiring nvenc is not started by a worker without it ---
rcli DEL "${Q}tasks:compose_gpu" >/dev/null
rcli XGROUP CREATE "${Q}tasks:compose_gpu" workers 0 MKSTREAM >/dev/null
submit n1 compose_gpu '{"id":"n1","type":"sleep","sleep":{"ms":0}}' nvenc >/dev/null
submit n2 compose_gpu '{"id":"n2","type":"sleep","sleep":{"ms":0}}' nvdec,cuda_filters >/dev/null
out=$(lua step "" h200 compose_gpu 5 0 0 "x264,x265,nvdec,cuda_filters")
expect_eq "an H200 (nvdec, cuda_filters, no nvenc) starts only the job it can run" "n2" \
  "$(grep -x 'n[12]' <<<"$out" | tr '\n' ' ' | sed 's/ $//')"
expect_eq "the nvenc job stays queued, its entry moved to the end (1 waits, n2 runs)" \
  "queued 1 1 1" "$(job_field n1 state) $(job_field n1 skips) $(lane_depth "${Q}tasks:compose_gpu")"
check "a worker with nvenc starts it" grep -qx n1 <<<"$(lua step "" l40 compose_gpu 5 0 0 "nvenc,nvdec,x264")"
t_done
