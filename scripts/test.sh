#!/usr/bin/env bash
# The whole test suite: unit and integration tests, then the allocation-threshold gate of the
# micro-benchmarks in Benchmarks/.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup.sh

echo "== swift test" >&2
swift test --parallel

if [ -x scripts/check-benchmark-thresholds.sh ]; then
    echo "== benchmark allocation thresholds" >&2
    scripts/check-benchmark-thresholds.sh
fi
