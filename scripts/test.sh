#!/usr/bin/env bash
# The whole test suite, as CI runs it:
#   1. swift test: unit, back-to-back, handler and loopback/emulated integration tests;
#   2. the allocation gate of the micro-benchmarks in Benchmarks/;
#   3. bench --quick --check: a short real run at loopback and one emulated RTT that fails when the
#      network round trips on each connection's critical path, or early negotiation's saving,
#      differ from the protocol model (README, "The check gate");
#   4. scripts/interop.sh: upgrades to and from py-libp2p (installed from PyPI; skipped, saying so,
#      when it cannot be installed);
#   5. scripts/fuzz.sh: every decoder of peer bytes under libFuzzer and AddressSanitizer, 10 s per
#      target, two at a time; any crash, leak, timeout or runaway allocation fails the run.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup.sh

# Suites that use the emulators or load the machine run on their own, one test at a time, after
# the rest: run alongside 600 other tests on 2 cores, their timing is not theirs.
timing_suites='EmulatedPathTests|UpgradeSocketTests|EmulatedRoundTripTests'

echo "== swift test" >&2
swift test --skip "$timing_suites"

echo "== swift test: timing-sensitive suites, serially" >&2
swift test --skip-build --no-parallel --filter "$timing_suites"

echo "== benchmark allocation thresholds" >&2
scripts/check-benchmark-thresholds.sh

echo "== bench --quick --check" >&2
results_root="${TMPDIR:-/tmp}/upgradebench-check-$$"
trap 'rm -rf "$results_root"' EXIT
swift run -c release bench --quick --check --results "$results_root" --name check

echo "== interoperability with py-libp2p" >&2
scripts/interop.sh

echo "== fuzzing every decoder of peer bytes" >&2
scripts/fuzz.sh --jobs 2
