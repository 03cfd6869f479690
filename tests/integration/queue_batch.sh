#!/bin/bash
# Batch backends (issue 15): bulk submit (vodqctl submit --bulk, vodq_submit_many) with a
# result per line, and removal (vodqctl remove, purge).
. "$VODQ_TESTS/lib.sh"
redis_start
start_scheduler s1
sleep 0.3

# ---- bulk submit: one result line per input line, in order -------------------------
B=$T_DIR/bulk.jsonl
{
  echo '{"id":"b1","type":"sleep","sleep":{"ms":10}}'
  echo '{"id":"b2","type":"sleep","sleep":{"ms":"x"}}'
  echo 'not json'
  echo '{"type":"sleep","sleep":{"ms":10}}'
  echo ''
  echo '{"id":"b6","type":"sleep","sleep":{"ms":10}}'
} >"$B"
set +e
out=$(ctl submit --bulk "$B" 2>"$T_DIR/bulk.err"); rc=$?
set -e
expect_eq "bulk: exit 1 when a line failed" 1 "$rc"
expect_eq "bulk: one output line per input line" 6 "$(wc -l <<<"$out")"
expect_eq "bulk: line 1 prints its id" b1 "$(sed -n 1p <<<"$out")"
check "bulk: line 2 names the line and the JSON path ($(sed -n 2p <<<"$out"))" \
  grep -q '^error: line 2: sleep.ms' <<<"$(sed -n 2p <<<"$out")"
check "bulk: line 3 (bad JSON) names the line" grep -q '^error: line 3: ' <<<"$(sed -n 3p <<<"$out")"
gen=$(sed -n 4p <<<"$out")
check "bulk: line 4 gets a generated id ($gen)" grep -qE '^[A-Za-z0-9_.:-]{20,}$' <<<"$gen"
check "bulk: the empty line 5 is an error" grep -q '^error: line 5: ' <<<"$(sed -n 5p <<<"$out")"
expect_eq "bulk: line 6 prints its id" b6 "$(sed -n 6p <<<"$out")"
check "bulk: summary on stderr" grep -q "3 of 6 line(s) not submitted" "$T_DIR/bulk.err"
check "bulk: b1 queued" wait_state b1 queued 10
check "bulk: generated id queued" wait_state "$gen" queued 10
expect_eq "bulk: the bad line b2 was not submitted" "" "$(job_field b2 state)"

# stdin, and more lines than one pipelined batch; all good: exit 0
python3 -c '
for i in range(2500): print("{\"id\":\"m%d\",\"type\":\"sleep\",\"sleep\":{\"ms\":1}}" % i)' \
  | ctl submit --bulk - >"$T_DIR/many.out"
expect_eq "bulk from stdin: 2500 ids in order" "m0 m1249 m2499" \
  "$(sed -n '1p;1250p;2500p' "$T_DIR/many.out" | tr '\n' ' ' | sed 's/ $//')"
check "bulk: the last one is queued" wait_state m2499 queued 20
expect_eq "bulk: 2500 submitted" 2500 "$(grep -c '^m' "$T_DIR/many.out")"

t_done
