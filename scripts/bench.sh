#!/usr/bin/env bash
# The main job: install what is missing, then run the default benchmark matrix.
#   scripts/bench.sh [--jemalloc] [bench arguments...]
# Extra arguments go to `bench` (see `swift run -c release bench --help`). With --jemalloc the
# benchmark runs with jemalloc preloaded instead of glibc malloc; meta.json records which ran.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup.sh

if [ "${1:-}" = "--jemalloc" ]; then
    shift
    jemalloc=$(ldconfig -p 2>/dev/null | awk '/libjemalloc\.so\.2 / { print $NF; exit }')
    if [ -z "$jemalloc" ]; then
        echo "bench.sh: libjemalloc.so.2 not found (install libjemalloc-dev)" >&2
        exit 1
    fi
    swift build -c release --product bench
    exec env LD_PRELOAD="$jemalloc" .build/release/bench "$@"
fi

exec swift run -c release bench "$@"
