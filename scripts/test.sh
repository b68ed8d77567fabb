#!/usr/bin/env bash
# The whole test suite, as CI runs it:
#   1. swift test: unit, back-to-back, handler and loopback/emulated integration tests;
#   2. the allocation gate of the micro-benchmarks in Benchmarks/;
#   3. scripts/interop.sh: upgrades to and from py-libp2p and go-libp2p, both ways (installed from
#      PyPI; skipped, saying so, when they cannot be installed);
#   4. bench --quick --peers swift,go --check: a short real run at loopback and one emulated RTT,
#      UpgradeBench against itself and against go-libp2p listening and dialing inside the emulated
#      path, that fails when the round trips, or early negotiation's saving, differ from the protocol
#      model (README, "The check gate"); without go-libp2p (no PyPI) the same run without go, saying
#      so;
#   5. scripts/fuzz.sh: every decoder of peer bytes under libFuzzer and AddressSanitizer, 10 s per
#      target, two at a time; any crash, leak, timeout or runaway allocation fails the run.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup.sh

# Suites that use the emulators or load the machine run on their own, one test at a time, after
# the rest: run alongside 600 other tests on 2 cores, their timing is not theirs.
timing_suites='EmulatedPathTests|UpgradeSocketTests|EmulatedRoundTripTests|BenchPeersTests'

echo "== swift test" >&2
swift test --skip "$timing_suites"

echo "== swift test: timing-sensitive suites, serially" >&2
swift test --skip-build --no-parallel --filter "$timing_suites"

echo "== benchmark allocation thresholds" >&2
scripts/check-benchmark-thresholds.sh

echo "== interoperability with py-libp2p and go-libp2p" >&2
scripts/interop.sh

peers=swift,go
if ! scripts/peers/go/setup.sh; then
    if [ "${UPGRADEBENCH_INTEROP:-}" = "required" ]; then
        echo "bench --peers go: go-libp2p could not be installed (above) and UPGRADEBENCH_INTEROP=required" >&2
        exit 1
    fi
    echo "bench --peers go: SKIPPED: go-libp2p could not be installed (above); checking UpgradeBench alone" >&2
    peers=swift
fi
echo "== bench --quick --peers $peers --check" >&2
results_root="${TMPDIR:-/tmp}/upgradebench-check-$$"
trap 'rm -rf "$results_root"' EXIT
swift run -c release bench --quick --peers "$peers" --check --results "$results_root" --name check

echo "== fuzzing every decoder of peer bytes" >&2
scripts/fuzz.sh --jobs 2
