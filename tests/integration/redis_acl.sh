#!/bin/bash
# The minimal ACL of docs/operations.md §3.1, run as written: scheduler,
# worker and vodqctl as that user do everything (jobs, pause/resume/cancel)
# without a single ACL denial. Then the same user without channel rights
# (Redis 7's default resetchannels): control still works through the desired
# state, vodqctl exits 0, and the worker says once that it cannot subscribe.
# Last the user without +fcall +function|load: the scripts go by EVALSHA.
# Last the user without +fcall +function|load: the scripts go by EVALSHA.
. "$VODQ_TESTS/lib.sh"
redis_start
acl=$(awk '/<!-- vodq-acl:/ {m = 1; next} m && /^```/ {if (b) exit; b = 1; next} b {printf "%s ", $0}' \
  "$VODQ_SRC/docs/operations.md")
check "the ACL block is in docs/operations.md" grep -q '^ACL SETUSER vodq ' <<<"$acl"
# shellcheck disable=SC2086 # the block is words
rcli ${acl/>CHANGE-ME/>pw1} >/dev/null
nochan=${acl/>CHANGE-ME/>pw2}
nochan=${nochan/ &vodq:\*/}
nochan=${nochan/SETUSER vodq /SETUSER vodqnc }
check "the no-channel variant has no channel pattern" bash -c "! grep -q '&' <<<'$nochan'"
# shellcheck disable=SC2086
rcli $nochan >/dev/null
rcli ACL LOG RESET >/dev/null
denials() { rcli ACL LOG 128 | grep -c '^reason$' || true; }

run_jobs() { # run_jobs TAG: jobs, pause/resume and cancel as the current REDIS_URL
  local tag=$1 ids=() i
  for i in $(seq 6); do ids+=("$(submit_sleep 50)"); done
  check "$tag: jobs succeed" wait_for 30 all_state succeeded "${ids[@]}"
  local long
  long=$(submit_sleep 4000)
  check "$tag: long job active" wait_state "$long" active 10
  check "$tag: vodqctl pause exits 0" ctl pause "$long"
  check "$tag: paused" wait_state "$long" paused 10
  check "$tag: vodqctl resume exits 0" ctl resume "$long"
  check "$tag: active again" wait_state "$long" active 10
  check "$tag: vodqctl cancel exits 0" ctl cancel "$long"
  check "$tag: cancelled" wait_state "$long" cancelled 10
}

REDIS_URL="redis://vodq:pw1@127.0.0.1:$REDIS_PORT"
start_scheduler s1
start_worker w1 --slots-sleep 4
run_jobs "full ACL"
expect_eq "full ACL: no denial in ACL LOG" "0" "$(denials)"
check "full ACL: the worker did not complain about subscribing" bash -c "! grep -q 'cannot subscribe' '$T_DIR/w1.log'"
kill "$PID_w1" "$PID_s1"; wait "$PID_w1" "$PID_s1" 2>/dev/null || true

REDIS_URL="redis://vodqnc:pw2@127.0.0.1:$REDIS_PORT"
start_scheduler s2
start_worker w2 --slots-sleep 4 --heartbeat-ms 300
run_jobs "no channel rights"
expect_eq "no channel rights: the worker says once that it cannot subscribe" "1" \
  "$(grep -c 'cannot subscribe to vodq:{default}:ctl' "$T_DIR/w2.log")"
check "no channel rights: channels were refused (the path was taken)" bash -c \
  "redis-cli -p $REDIS_PORT ACL LOG 128 | grep -A1 -x reason | grep -q -x channel"
check "no channel rights: denials are only channel ones" bash -c \
  "! redis-cli -p $REDIS_PORT ACL LOG 128 | grep -A1 -x reason | grep -v -x -e reason -e channel -e -- | grep -q ."
kill "$PID_w2" "$PID_s2"; wait "$PID_w2" "$PID_s2" 2>/dev/null || true

nofn=${acl/>CHANGE-ME/>pw3}
nofn=${nofn/ +fcall +function|load/}
nofn=${nofn/SETUSER vodq /SETUSER vodqnf }
check "the no-FUNCTION variant has no function rights" bash -c "! grep -q 'function' <<<'$nofn'"
# shellcheck disable=SC2086
rcli $nofn >/dev/null
rcli FUNCTION FLUSH >/dev/null # so nothing can come from the library
rcli ACL LOG RESET >/dev/null
REDIS_URL="redis://vodqnf:pw3@127.0.0.1:$REDIS_PORT"
start_scheduler s3
start_worker w3 --slots-sleep 4
run_jobs "no FUNCTION rights"
check "no FUNCTION rights: the worker says the scripts go by EVALSHA" \
  grep -q 'the scripts go by EVALSHA' "$T_DIR/w3.log"
expect_eq "no FUNCTION rights: no library was loaded" "" "$(rcli FUNCTION LIST)"
check "no FUNCTION rights: the only denials are of function|load" bash -c \
  "! redis-cli -p $REDIS_PORT ACL LOG 128 | grep -A1 -x object | grep -v -x -e object -e 'function|load' -e -- | grep -q ."
t_done
