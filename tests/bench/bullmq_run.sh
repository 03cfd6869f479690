#!/usr/bin/env bash
# BullMQ half of tests/bench/queue.sh.
#
#   tests/bench/bullmq_run.sh PORT N CONCURRENCY
#
# Runs N no-op BullMQ jobs through one worker process with the given concurrency against
# an already running redis-server on 127.0.0.1:PORT, and prints one line of JSON on stdout:
#   {"system":"bullmq","n":N,"concurrency":C,"jobs_per_s":X,"p50_dispatch_ms":A,
#    "p99_dispatch_ms":B,"redis_cmds_per_job":K}
# Everything else goes to stderr. It deletes the keys bull:vodqbench:* and
# bull:vodqbench-warmup:* before and after the run, and runs CONFIG RESETSTAT (server-wide)
# on that redis, so point it at a throw-away server and run one benchmark at a time.
#
# bullmq and ioredis (versions pinned in tests/bench/bullmq/package.json) are installed
# from npm into a cache folder, never into the source tree:
#   ${VODQ_BENCH_CACHE:-$HOME/.cache/vodq-bench}/bullmq
# npm runs only when that folder has no node_modules or its copy of package.json differs
# from ours (a version bump); later runs need no network. Needs node >= 18 and npm.
#
# Environment:
#   VODQ_BENCH_CACHE          cache root (default $HOME/.cache/vodq-bench)
#   BULLMQ_BENCH_VERBOSE=1    per-command breakdown, add/drain times and CPU on stderr
#   BULLMQ_BENCH_REMOVE       count1000 (default) | true | keep: removeOnComplete setting
#   BULLMQ_BENCH_TIMEOUT_S    give up when the drain takes longer (default 600)
#   BULLMQ_BENCH_WARMUP       jobs run through a throw-away queue first so V8 is warm (default 5000; 0 = cold)
# Exit status: 0 on success, 1 on a failed run, 2 on bad usage or a missing tool.
set -euo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
src="$here/bullmq"

usage() {
    echo "usage: $0 PORT N CONCURRENCY" >&2
    exit 2
}
[ $# -eq 3 ] || usage
for a in "$@"; do
    [[ $a =~ ^[1-9][0-9]*$ ]] || { echo "bullmq_run.sh: '$a' is not a positive integer" >&2; usage; }
done

for tool in node npm; do
    command -v "$tool" >/dev/null 2>&1 || {
        echo "bullmq_run.sh: '$tool' not found in PATH (needs node >= 18 and npm)" >&2
        exit 2
    }
done
node_major=$(node -p 'process.versions.node.split(".")[0]')
if [ "$node_major" -lt 18 ]; then
    echo "bullmq_run.sh: node $(node --version) is too old, bullmq 6 needs node >= 18" >&2
    exit 2
fi

cache="${VODQ_BENCH_CACHE:-$HOME/.cache/vodq-bench}/bullmq"
mkdir -p "$cache"
if [ ! -d "$cache/node_modules/bullmq" ] || [ ! -d "$cache/node_modules/ioredis" ] ||
    ! cmp -s "$src/package.json" "$cache/package.json"; then
    echo "bullmq_run.sh: installing bullmq and ioredis into $cache" >&2
    rm -rf "$cache/node_modules" "$cache/package-lock.json"
    cp "$src/package.json" "$cache/package.json"
    # --prefer-offline: reuse npm's own cache (~/.npm) when it has the tarballs.
    # --ignore-scripts: the only install script is msgpackr-extract's optional native
    # build; its prebuilt binary package is installed anyway and msgpackr has a JS fallback.
    if ! (cd "$cache" && npm install --prefer-offline --ignore-scripts --no-audit --no-fund \
        --loglevel=error >&2); then
        rm -rf "$cache/node_modules" "$cache/package.json"
        echo "bullmq_run.sh: npm install failed in $cache (is the npm registry reachable?)" >&2
        exit 1
    fi
fi

NODE_PATH="$cache/node_modules" exec node "$src/bench.js" "$@"
