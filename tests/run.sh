#!/usr/bin/env bash
# tests/run.sh: the whole test suite, on a fresh Debian 12 machine.
#  1. deploy/setup.sh: apt-get what is missing, build build/ and build-asan/ (ASan+UBSan)
#  2. every test (unit, integration, fault) through ctest on build/
#  3. the unit tests and the queue integration tests again on the ASan+UBSan build
#  4. the queue integration test of submit-to-completion under valgrind
#  5. every libFuzzer harness of tests/fuzz for 30 s (clang, ASan+UBSan, build-fuzz/)
# Exit status 0 only when everything passed.
set -euo pipefail
src=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$src"
VODQ_SETUP_ASAN=1 bash deploy/setup.sh
export ASAN_OPTIONS=${ASAN_OPTIONS:-detect_leaks=1:abort_on_error=1}
export UBSAN_OPTIONS=${UBSAN_OPTIONS:-print_stacktrace=1:halt_on_error=1}
export LSAN_OPTIONS=${LSAN_OPTIONS:-suppressions=$src/tests/lsan.supp}
rc=0
echo "== ctest (all tests, build/)"
(cd build && ctest --output-on-failure -j2 --timeout 600) || rc=1
echo "== ctest (unit + queue integration, ASan+UBSan build-asan/)"
(cd build-asan && ctest --output-on-failure -j2 -L unit) || rc=1
(cd build-asan && ctest --output-on-failure -j1 -R 'integration\.queue_(basic|control|failures)') || rc=1
echo "== valgrind (queue_basic with vodq-scheduler and vodqctl under memcheck)"
# vodq-worker links FFmpeg, whose libjxl -> libhwy runs RDTSCP in a library
# constructor; valgrind 3.19 stops on it (SIGILL) before main(). The worker
# is checked by the ASan+UBSan run above instead.
VODQ_BIN="$src/build/bin" VODQ_TESTS="$src/tests" VODQ_SRC="$src" VODQ_WRAP_WORKER= \
  VODQ_WRAP="valgrind -q --error-exitcode=99 --leak-check=full --errors-for-leak-kinds=definite --suppressions=$src/tests/valgrind.supp" \
  bash tests/integration/queue_basic.sh || rc=1
echo "== fuzz (tests/fuzz/run.sh: each harness 30 s on its corpus, ASan+UBSan)"
bash tests/fuzz/run.sh "${VODQ_FUZZ_SECONDS:-30}" || rc=1
exit $rc
