#!/usr/bin/env bash
# Builds the fuzzers of the nested package Fuzz/ (libFuzzer + AddressSanitizer) and runs each for a
# bounded time, starting from its committed seeds in Fuzz/Corpus/<target>/. Prints, per target,
# executions, executions per second, coverage (libFuzzer's `cov:`, covered edges) and corpus size;
# exits non-zero if any target found a crash, a leak, a timeout or an out-of-memory input, and
# names the reproducer file it wrote. docs/fuzzing.md says more.
#
#   scripts/fuzz.sh                       every target, 10 s each (FUZZ_SECONDS overrides)
#   scripts/fuzz.sh --seconds 300         longer
#   scripts/fuzz.sh FuzzVarint FuzzYamuxSession
#   scripts/fuzz.sh --jobs 2              two targets at a time (the run then shares the cores)
#   scripts/fuzz.sh --no-build            reuse the last build
#   scripts/fuzz.sh --list                the targets
#
# New inputs libFuzzer finds go to Fuzz/.build/fuzz/corpus/<target>/, not into the committed
# seeds; reproducers and logs to Fuzz/.build/fuzz/{artifacts,logs}/.
set -euo pipefail
cd "$(dirname "$0")/.."

seconds="${FUZZ_SECONDS:-10}"
jobs=1
build=1
list=0
targets=()
while [ $# -gt 0 ]; do
    case "$1" in
        --seconds) seconds="$2"; shift 2 ;;
        --seconds=*) seconds="${1#*=}"; shift ;;
        --jobs) jobs="$2"; shift 2 ;;
        --jobs=*) jobs="${1#*=}"; shift ;;
        --no-build) build=0; shift ;;
        --list) list=1; shift ;;
        -h|--help) sed -n '2,17p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
        -*) echo "fuzz.sh: unknown option $1" >&2; exit 2 ;;
        *) targets+=("$1"); shift ;;
    esac
done

all_targets=()
for directory in Fuzz/Sources/Fuzz*/; do
    name="$(basename "$directory")"
    [ "$name" = FuzzSupport ] || all_targets+=("$name")
done
if [ "$list" = 1 ]; then printf '%s\n' "${all_targets[@]}"; exit 0; fi
[ ${#targets[@]} -gt 0 ] || targets=("${all_targets[@]}")

# Coverage instrumentation and ASan for every Swift module, the root package's included;
# -enable-testing because some targets reach internal entry points (@testable import).
build_flags=(--package-path Fuzz -c release -Xswiftc -sanitize=fuzzer,address -Xswiftc -enable-testing)
if [ "$build" = 1 ]; then
    echo "== building the fuzzers (swift build ${build_flags[*]})" >&2
    build_start=$SECONDS
    swift build "${build_flags[@]}" >&2
    echo "== built in $((SECONDS - build_start)) s" >&2
fi
bin="$(swift build "${build_flags[@]}" --show-bin-path)"

work="Fuzz/.build/fuzz"
mkdir -p "$work/logs" "$work/artifacts"

# One target: its own corpus directory first (libFuzzer writes new inputs to the first one), the
# committed seeds second. The reproducer of a finding is written to artifacts/<target>-<kind>-<hash>.
run_target() {
    local target="$1"
    local corpus="$work/corpus/$target" log="$work/logs/$target.log"
    mkdir -p "$corpus"
    local seeds=()
    [ -d "Fuzz/Corpus/$target" ] && seeds=("Fuzz/Corpus/$target")
    # 2 GB RSS, one allocation at most 256 MB, 10 s per input; leaks are findings.
    # Swift's own crash backtracer would run under ASan and add noise to the report.
    SWIFT_BACKTRACE="${SWIFT_BACKTRACE:-enable=no}" ASAN_OPTIONS="${ASAN_OPTIONS:-detect_leaks=1}" "$bin/$target" \
        -max_total_time="$seconds" -timeout=10 -rss_limit_mb=2048 -malloc_limit_mb=256 \
        -print_final_stats=1 -artifact_prefix="$work/artifacts/$target-" \
        "$corpus" "${seeds[@]}" >"$log" 2>&1
}

summarize() {
    local target="$1" status="$2" log="$work/logs/$1.log"
    local runs exec_rate cov corpus
    runs="$(sed -n 's/^stat::number_of_executed_units: *//p' "$log" | tail -1)"
    exec_rate="$(sed -n 's/^stat::average_exec_per_sec: *//p' "$log" | tail -1)"
    cov="$(grep -o 'cov: [0-9]*' "$log" | tail -1 | cut -d' ' -f2 || true)"
    corpus="$(grep -o 'corp: [0-9]*/[0-9a-zA-Z]*' "$log" | tail -1 | cut -d' ' -f2 || true)"
    local verdict=ok
    [ "$status" = 0 ] || verdict="FAILED (exit $status)"
    printf '%-26s %8s s %12s %10s %8s %12s  %s\n' "$target" "$seconds" "${runs:--}" "${exec_rate:--}" \
        "${cov:--}" "${corpus:--}" "$verdict"
    if [ "$status" != 0 ]; then
        grep -E '^==[0-9]+==ERROR|^SUMMARY|Fatal error|fuzz invariant|^ALARM|out-of-memory|(crash|leak|timeout|oom)-' \
            "$log" | head -8 | sed 's/^/    /' || true
        local unit
        unit="$(sed -n 's/.*Test unit written to \(.*\)$/\1/p' "$log" | tail -1)"
        echo "    reproducer: ${unit:-none written; see $log}"
        echo "    log:        $log"
        echo "    replay:     $bin/$target ${unit:-<input>}"
    fi
}

run_start=$SECONDS
statuses=()
if [ "$jobs" -le 1 ]; then
    for target in "${targets[@]}"; do
        status=0
        run_target "$target" || status=$?
        statuses+=("$status")
    done
else
    pids=()
    for index in "${!targets[@]}"; do
        run_target "${targets[$index]}" &
        pids[$index]=$!
        while [ "$(jobs -rp | wc -l)" -ge "$jobs" ]; do sleep 0.2; done
    done
    for index in "${!targets[@]}"; do
        status=0
        wait "${pids[$index]}" || status=$?
        statuses[$index]=$status
    done
fi

printf '\n%-26s %10s %12s %10s %8s %12s  %s\n' target time execs exec/s cov corpus result
failed=0
for index in "${!targets[@]}"; do
    summarize "${targets[$index]}" "${statuses[$index]}"
    [ "${statuses[$index]}" = 0 ] || failed=$((failed + 1))
done
echo "== fuzzing took $((SECONDS - run_start)) s; $failed of ${#targets[@]} targets failed" >&2
[ "$failed" = 0 ]
