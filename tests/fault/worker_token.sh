#!/bin/bash
# Token expiry through the queue (VOD target, OSS-protocol test server
# tests/oss_server.py, which is ours and checks the STS token):
#  1. the token expires after part 3: the job goes waiting_auth with a
#     token_expired event; `vodqctl refresh-auth` resumes the SAME upload id and
#     only the missing parts are sent (counted at the server);
#  2. no refresh within wait_auth_s: the task is handed back, parked in
#     waiting_auth with its checkpoint; a later refresh-auth queues it again and
#     it finishes the same upload id.
. "$VODQ_TESTS/lib.sh"
redis_start
oss_start
PS=262144
head -c $((16 * PS)) /dev/urandom >"$T_DIR/video.mp4"
job() { # job ID KEY TOKEN WAIT_AUTH_S
  printf '{"id":"%s","type":"upload","max_attempts":3,"upload":{"file":"%s","part_size":%d,"parallel":2,"wait_auth_s":%d,"vod":{"upload_address":"%s","upload_auth":"%s","path_style":true}}}' \
    "$1" "$T_DIR/video.mp4" "$PS" "$4" "$(addr "$2")" "$(auth "$3")"
}
start_scheduler s1
start_worker w1 --slots-upload 1 --slots-compose 0 --slots-sleep 0 --heartbeat-ms 300

# 1. expiry after part 3, refresh while the task waits
ossctl '{"expire_token_after_parts":3,"slow_ms":100}'
job tok1 a.mp4 T1 60 | ctl submit - >/dev/null
check "job waits for credentials" wait_state tok1 waiting_auth 30
n=$(rcli XRANGE 'vodq:{default}:events' - + | grep -c -x token_expired || true)
check "a token_expired event was written" test "$n" -ge 1
uid=$(rcli HGET 'vodq:{default}:ckpt:tok1' upload_id)
check "checkpoint kept with an upload id" test -n "$uid"
sent_before=$(pystats "len(s['parts_by_upload'].get('$uid', []))")
ossctl '{"token":"T2","expire_token_after_parts":-1,"slow_ms":0}'
check "refresh-auth accepted" ctl refresh-auth tok1 "$(auth T2)"
check "upload finishes after the refresh" wait_state tok1 succeeded 30
res=$(job_field tok1 result)
check "same upload id after the refresh" python3 -c "import json,sys; assert json.loads(sys.argv[1])['upload_id']=='$uid'" "$res"
dups=$(pystats "(lambda l: len(l)-len(set(l)))([p for p in s['parts_by_upload']['$uid']])")
total=$(pystats "len(set(s['parts_by_upload']['$uid']))")
expect_eq "all 16 parts arrived" 16 "$total"
# parts that were refused with the expired token are re-sent once; none that was accepted
check "only missing parts re-sent (re-sent $dups, sent before expiry $sent_before)" test "$dups" -le "$sent_before"
check "auth never appears in status output" bash -c "! $VODQ_BIN/vodqctl --redis $REDIS_URL status tok1 --json | grep -q qsecret"
check "auth never appears in events" bash -c "! redis-cli -p $REDIS_PORT XRANGE 'vodq:{default}:events' - + | grep -q qsecret"

# 2. no refresh in time: parked in waiting_auth with its checkpoint; refresh later
ossctl '{"token":"T3"}'   # a new token disarms the expiry, so arm it after
ossctl '{"expire_token_after_parts":2,"slow_ms":100}'
job tok2 b.mp4 T3 2 | ctl submit - >/dev/null
check "second job waits for credentials" wait_state tok2 waiting_auth 30
check "after wait_auth_s the task is handed back (no task entry)" wait_for 15 bash -c "[ -z \"\$(redis-cli -p $REDIS_PORT HGET 'vodq:{default}:job:tok2' task)\" ] && [ \"\$(redis-cli -p $REDIS_PORT HGET 'vodq:{default}:job:tok2' state)\" = waiting_auth ]"
uid2=$(rcli HGET 'vodq:{default}:ckpt:tok2' upload_id)
check "parked job keeps its checkpoint" test -n "$uid2"
sleep 1
expect_eq "still parked" waiting_auth "$(job_field tok2 state)"
ossctl '{"token":"T4","expire_token_after_parts":-1,"slow_ms":0}'
check "refresh-auth queues it again" ctl refresh-auth tok2 "$(auth T4)"
check "parked upload finishes" wait_state tok2 succeeded 30
res2=$(job_field tok2 result)
check "same upload id after parking" python3 -c "import json,sys; assert json.loads(sys.argv[1])['upload_id']=='$uid2'" "$res2"
t_done
