#!/bin/bash
# The seed's session order (issue 9 point 4): jobs of a session that export are
# numbered when submitted; an upload without a file waits (waiting_session) for every
# one submitted before it, then takes the newest successful export, even when the
# first submitted finishes last; with none it fails naming the session. Then session
# show, release (--delete-exports) and the session ttl.
. "$VODQ_TESTS/lib.sh"
redis_start
start_scheduler s1 --session-ttl 40
start_worker w1 --slots-sleep 4 --slots-compose 0 --slots-upload 0
sleep 0.3
D=$T_DIR/out; mkdir -p "$D"; touch "$D/a.mp4" "$D/b.mp4"
up() { echo "{\"id\":\"$1\",\"type\":\"upload\",\"session\":\"$2\",\"upload\":{\"s3\":{\"endpoint\":\"http://127.0.0.1:9\",\"bucket\":\"b\",\"key\":\"k\"}}}" | ctl submit - >/dev/null; }
sl() { echo "{\"id\":\"$1\",\"type\":\"sleep\",\"session\":\"$2\",\"sleep\":{\"ms\":$3${4:-}}}" | ctl submit - >/dev/null; }

# A (number 1) runs long, B (number 2) finishes first; U waits for both
sl A S 2500 ",\"output\":\"$D/a.mp4\""
sl B S 100 ",\"output\":\"$D/b.mp4\""
wait_state A active 10
up U S
check "U waits for its session" wait_state U waiting_session 10
check "vodqctl status shows waiting_session" grep -q waiting_session <<<"$(ctl status U)"
check "B succeeds first" wait_state B succeeded 10
expect_eq "A still running" active "$(job_field A state)"
expect_eq "U still waiting after B ended (A, submitted before it, runs)" waiting_session "$(job_field U state)"
expect_eq "A and B numbered in submit order" "1 2" "$(job_field A session_seq) $(job_field B session_seq)"
check "A succeeds last" wait_state A succeeded 10
check "U queued once A ended" wait_state U queued 10
expect_eq "U took the newest export (B's, number 2), not the last finished" "$D/b.mp4" "$(job_field U export)"
j=$(ctl session show S --json)
expect_eq "session show: last export B's" "$D/b.mp4 B 2" \
  "$(python3 -c 'import json,sys; d=json.loads(sys.argv[1]); print(d["last_export"], d["last_export_job"], d["last_export_seq"])' "$j")"
expect_eq "session show: jobs and states in submit order" "A:succeeded B:succeeded U:queued" \
  "$(python3 -c 'import json,sys; print(" ".join(x["id"]+":"+x["state"] for x in json.loads(sys.argv[1])["jobs_list"]))' "$j")"
check "waiting_session is an event" sh -c "rcli() { redis-cli -p $REDIS_PORT \"\$@\"; }; rcli XRANGE 'vodq:{default}:events' - + | grep -qx waiting_session"
ttl=$(rcli TTL 'vodq:{default}:session:S')
check "session keys expire after --session-ttl ($ttl s)" test "$ttl" -gt 0 -a "$ttl" -le 40

# an upload whose session has no successful export fails naming the session
sl F T 50 ",\"fail_times\":5,\"permanent\":true"
up V T
check "V fails once F is dead" wait_state V dead 10
check "V's error names the session ($(job_field V error))" grep -q "session T" <<<"$(job_field V error)"

# an upload in a session whose composes all ended takes the export at once
up W S
check "W queued at once with B's export" wait_state W queued 5
expect_eq "W export" "$D/b.mp4" "$(job_field W export)"

# release: unfinished jobs cancelled, keys deleted, exports deleted, later calls fail
sl L S 20000
wait_state L active 10
out=$(ctl session release S --delete-exports)
check "release reports ($out)" grep -q "released" <<<"$out"
check "the running job is cancelled" wait_state L cancelled 10
expect_eq "the queued upload is cancelled" cancelled "$(job_field U state)"
check "exports deleted" test ! -e "$D/a.mp4" -a ! -e "$D/b.mp4"
expect_eq "session keys gone (tombstone only)" 1 "$(rcli --scan --pattern 'vodq:{default}:session:S*' | wc -l)"
err=$(ctl session show S 2>&1 >/dev/null || true)
check "show after release: session released ($err)" grep -q "session released" <<<"$err"
sl Z S 1
check "a job submitted to a released session is rejected" wait_state Z rejected 10
check "naming it" grep -q "session released" <<<"$(job_field Z error)"
t_done
