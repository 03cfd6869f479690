#!/usr/bin/env bash
# tests/fuzz/run.sh [SECONDS] [NAME...]: builds the libFuzzer harnesses of
# tests/fuzz (clang, -fsanitize=fuzzer,address,undefined, in build-fuzz/)
# and runs each for SECONDS (default 30) on its checked-in corpus
# tests/fuzz/corpus/NAME/ (new inputs go to a scratch folder, not into the
# repository). A crash, a leak, a UB report or a 10 s input fails the run;
# the input is left in build-fuzz/artifacts/. Make it a regression: copy it
# into tests/fuzz/corpus/NAME/ (ctest's fuzz.NAME replays it in every build)
# and fix the bug.
set -euo pipefail
src=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
secs=${1:-30}
[ $# -gt 0 ] && shift
names=("$@")
if [ ${#names[@]} -eq 0 ]; then
  for f in "$src"/tests/fuzz/fuzz_*.c; do n=$(basename "$f" .c); names+=("${n#fuzz_}"); done
fi
b=$src/build-fuzz
CC=clang cmake -S "$src" -B "$b" -DVODQ_FUZZ=ON -DVODQ_WERROR=OFF -DCMAKE_BUILD_TYPE=RelWithDebInfo >/dev/null
nice cmake --build "$b" --target fuzz_all -j"$(nproc 2>/dev/null || echo 2)" >/dev/null
mkdir -p "$b/artifacts"
export ASAN_OPTIONS=${ASAN_OPTIONS:-detect_leaks=1:abort_on_error=1}
export UBSAN_OPTIONS=${UBSAN_OPTIONS:-print_stacktrace=1:halt_on_error=1}
export LSAN_OPTIONS=${LSAN_OPTIONS:-suppressions=$src/tests/lsan.supp}
rc=0
for n in "${names[@]}"; do
  work=$(mktemp -d "${TMPDIR:-/tmp}/vodq-fuzz-$n.XXXXXX")
  log=$b/artifacts/$n.log
  if "$b/bin/fuzz_$n" -max_total_time="$secs" -timeout=10 -rss_limit_mb=2048 -max_len=65536 \
    -artifact_prefix="$b/artifacts/$n-" -print_final_stats=1 "$work" "$src/tests/fuzz/corpus/$n" \
    >"$log" 2>&1; then
    echo "fuzz $n: ok, $(grep -o 'stat::number_of_executed_units: *[0-9]*' "$log" | grep -o '[0-9]*$') runs in ${secs}s, $(ls "$work" | wc -l) new inputs"
  else
    rc=1
    echo "fuzz $n: FAILED (log $log)"
    grep -E 'ERROR|SUMMARY|runtime error|Test unit written' "$log" | head -5 | sed 's/^/  /'
  fi
  rm -rf "$work"
done
exit $rc
