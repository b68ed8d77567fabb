#!/usr/bin/env bash
# Allocation gate for the micro-benchmarks in Benchmarks/ (the approach of swift-nio's
# check_benchmark_thresholds.sh).
#
# Runs every benchmark measuring only malloc counts, and compares each p90 with the committed
# threshold in Benchmarks/Thresholds/<swift major.minor>/. Allocation counts are deterministic, so
# any increase is a regression and fails. Wall time is never gated: this machine class is shared
# and noisy. Run `swift package --package-path Benchmarks benchmark` for timings.
#
#   scripts/check-benchmark-thresholds.sh            check (exit 1 on a regression)
#   scripts/check-benchmark-thresholds.sh --update   rewrite the thresholds from a fresh run
set -uo pipefail
cd "$(dirname "$0")/.."

swift_version=$(swift --version 2>/dev/null | sed -nE 's/.*Swift version ([0-9]+\.[0-9]+).*/\1/p' | head -n 1)
if [ -z "$swift_version" ]; then
    echo "check-benchmark-thresholds: cannot tell the Swift version" >&2
    exit 1
fi
thresholds="Benchmarks/Thresholds/${swift_version}"
common=(--metric mallocCountTotal --format metricP90AbsoluteThresholds --path "$thresholds" --no-progress)

update() {
    mkdir -p "$thresholds"
    swift package --package-path Benchmarks --allow-writing-to-package-directory \
        benchmark thresholds update "${common[@]}"
}

if [ "${1:-}" = "--update" ]; then
    update
    exit $?
fi

if [ ! -d "$thresholds" ] || [ -z "$(ls -A "$thresholds" 2>/dev/null)" ]; then
    echo "check-benchmark-thresholds: no thresholds for Swift ${swift_version} in ${thresholds}." >&2
    echo "check-benchmark-thresholds: record them with: scripts/check-benchmark-thresholds.sh --update" >&2
    exit 1
fi

swift package --package-path Benchmarks benchmark thresholds check "${common[@]}"
rc=$?
case "$rc" in
0)
    echo "check-benchmark-thresholds: allocation counts match ${thresholds}."
    exit 0
    ;;
4)
    # ordo-one/benchmark's exit code for "only improvements".
    echo "check-benchmark-thresholds: allocations dropped below ${thresholds}: tighten them with" >&2
    echo "    scripts/check-benchmark-thresholds.sh --update && git diff ${thresholds}" >&2
    exit 0
    ;;
*)
    echo >&2
    echo "check-benchmark-thresholds: FAILED (exit ${rc}): allocation counts rose above ${thresholds}," >&2
    echo "or the benchmarks did not build or run. If the increase is deliberate, record it and commit" >&2
    echo "the new thresholds with the change that caused it:" >&2
    echo "    scripts/check-benchmark-thresholds.sh --update && git diff ${thresholds}" >&2
    exit 1
    ;;
esac
