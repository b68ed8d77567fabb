#!/usr/bin/env bash
# Interoperability with other libp2p implementations, on loopback, through their peer adapters
# (docs/peers.md). Each implementation has its own script; this one builds bench once and runs them:
#
#   scripts/interop/py.sh   py-libp2p 0.8.1, which has no early muxer negotiation: `bench dial` to a
#                           py listener (Noise and TLS, early and classic, strict and lazy
#                           multistream-select; 100 connections in a row from one identity) must
#                           always fall back, "early": false on both sides; py dialing `bench listen`
#                           (early and classic) must echo, and bench listen must report the fallback
#                           on every connection.
#   scripts/interop/go.sh   go-libp2p v0.32.1 (p2pd), which offers early muxer negotiation: early
#                           dials must report "early": true and classic ones false, and go's own
#                           metrics must agree connection by connection, in both directions.
#
# Both also check that their adapter refuses (exit 3) what the implementation cannot do. Either
# script skips, saying so, when its implementation cannot be installed (no PyPI, no python3 venv);
# UPGRADEBENCH_INTEROP=required makes that a failure.
#
#   scripts/interop.sh
#
# BENCH=path/to/bench uses that binary instead of building one (SCRATCH: the build's scratch path,
# default .build). Exit status 0 when both scripts succeeded (or skipped), 1 otherwise.
set -euo pipefail
cd "$(dirname "$0")/.."

if [ -z "${BENCH:-}" ]; then
    scratch=${SCRATCH:-.build}
    swift build -c release --product bench --scratch-path "$scratch" >&2
    BENCH="$(swift build -c release --product bench --scratch-path "$scratch" --show-bin-path)/bench"
fi
[ -x "$BENCH" ] || { echo "interop: BENCH=$BENCH is not an executable" >&2; exit 1; }
export BENCH

logs=$(mktemp -d)
trap 'rm -rf "$logs"' EXIT

passed=0
total=0
failures=0
results=()

# Runs one implementation's script (its stderr shown as it goes and kept, to read its last line).
run() {
    local name="$1" script="$2" log="$logs/$1" code=0 counts
    if [ ! -x "$script" ]; then
        echo "interop: $script is missing or not executable" >&2
        failures=$((failures + 1))
        results+=("$name: missing")
        return
    fi
    echo "== interoperability with $name ($script)" >&2
    { "$script" 2>&1 1>&3 3>&- | tee "$log" >&2; } 3>&1 || code=$?
    counts=$(sed -n 's/^interop: \([0-9]*\) of \([0-9]*\) checks .*/\1 \2/p' "$log" | tail -n 1)
    if grep -q '^interop: SKIPPED' "$log"; then
        results+=("$name: skipped$([ "$code" -eq 0 ] || echo ", which UPGRADEBENCH_INTEROP=required fails")")
    elif [ -n "$counts" ]; then
        passed=$((passed + ${counts% *}))
        total=$((total + ${counts#* }))
        results+=("$name: ${counts% *} of ${counts#* }")
    else
        results+=("$name: exit status $code, no result line")
    fi
    if [ "$code" -ne 0 ]; then failures=$((failures + 1)); fi
}

run py-libp2p scripts/interop/py.sh
run go-libp2p scripts/interop/go.sh

summary=$(IFS=';'; echo "${results[*]}")
echo "interop: $passed of $total checks succeeded (${summary//;/; })" >&2
[ "$failures" -eq 0 ]
