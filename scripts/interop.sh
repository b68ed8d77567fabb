#!/usr/bin/env bash
# Interoperability with another libp2p implementation: py-libp2p (PyPI `libp2p`, pinned), on loopback.
#
#   1. `bench dial` → py-libp2p listener: Noise and TLS, early and classic negotiation, strict and
#      lazy multistream-select. py-libp2p does no early muxer negotiation (its upgrader always runs
#      multistream-select for the muxer), so every connection must succeed with "early": false: the
#      fallback, measured as such.
#   2. py-libp2p dialer → `bench listen` (Noise and TLS offered, early and classic): py-libp2p opens
#      /ipfs/id/1.0.0 right away (answered `na`), then an /echo/1.0.0 stream that must echo.
#
#   scripts/interop.sh
#
# The peer is scripts/interop/py_peer.py, run from a virtual environment in .build-interop/. When
# py-libp2p cannot be installed (no PyPI, no python3 venv) the check says so and is skipped, unless
# UPGRADEBENCH_INTEROP=required, which makes that a failure.
set -euo pipefail
cd "$(dirname "$0")/.."

version=${PY_LIBP2P_VERSION:-0.8.1}
venv=".build-interop/py-libp2p-$version"
connections=3

skip() {
    echo "interop: SKIPPED: $*" >&2
    if [ "${UPGRADEBENCH_INTEROP:-}" = "required" ]; then exit 1; fi
    exit 0
}

if ! "$venv/bin/python" -c "import libp2p" >/dev/null 2>&1; then
    echo "interop: installing py-libp2p $version into $venv" >&2
    rm -rf "$venv"
    python3 -m venv "$venv" >&2 || skip "python3 cannot make a virtual environment (Debian: apt-get install python3-venv)"
    "$venv/bin/pip" install --quiet --disable-pip-version-check "libp2p==$version" >&2 \
        || skip "could not install libp2p==$version from PyPI"
fi
python="$venv/bin/python"

swift build -c release --product bench >&2
bench="$(swift build -c release --show-bin-path)/bench"

work=$(mktemp -d)
pids=()
cleanup() {
    for pid in "${pids[@]}"; do kill "$pid" 2>/dev/null || true; done
    rm -rf "$work"
}
trap cleanup EXIT

# Starts a listener in the background and prints its multiaddr once it announced it (30 s at most).
start_listener() {
    local out="$1"
    shift
    "$@" >"$out" 2>"$out.err" &
    pids+=("$!")
    for _ in $(seq 1 300); do
        if [ -s "$out" ] && head -n 1 "$out" | grep -q '}$'; then
            head -n 1 "$out" | python3 -c 'import json, sys; print(json.load(sys.stdin)["multiaddr"])'
            return 0
        fi
        sleep 0.1
    done
    echo "interop: listener did not start: $*" >&2
    cat "$out.err" >&2
    return 1
}

passed=0
failed=0
check() {
    local name="$1"
    shift
    if "$@"; then
        passed=$((passed + 1))
        echo "interop: ok   $name" >&2
    else
        failed=$((failed + 1))
        echo "interop: FAIL $name" >&2
    fi
}

# Every connection line succeeded with the requested security and without early negotiation.
dial_lines_fell_back() {
    local lines="$1" security="$2"
    python3 - "$lines" "$security" "$connections" <<'PY'
import json, sys
path, security, expected = sys.argv[1], sys.argv[2], int(sys.argv[3])
lines = [json.loads(line) for line in open(path) if line.strip()]
connections = [line for line in lines if "summary" not in line]
problems = [line for line in connections if not (line["ok"] and line["security"] == security and line["early"] is False)]
if len(connections) != expected or problems:
    print(f"  {len(connections)} lines, expected {expected}; not ok: {problems}", file=sys.stderr)
    sys.exit(1)
PY
}

bench_dials_py() {
    local multiaddr="$1" security="$2" negotiation="$3" multistream="$4"
    local out="$work/dial-$security-$negotiation-$multistream"
    "$bench" dial "$multiaddr" --security "$security" --negotiation "$negotiation" \
        --multistream "$multistream" --connections "$connections" >"$out" 2>"$out.err" \
        && dial_lines_fell_back "$out" "$([ "$security" = noise ] && echo /noise || echo /tls/1.0.0)" \
        || { cat "$out" "$out.err" >&2; return 1; }
}

# 100 connections in a row from one identity. py-libp2p 0.8.1 frees a closed connection's slot in its
# per-peer limit (8) only when its teardown ends, about 110 ms after our close, so back-to-back dials
# from one peer exceed the limit from the 9th on; 50 ms apart, at most 3 are ever still being torn
# down (README, "Against other libp2p implementations").
bench_dials_py_sequentially() {
    local multiaddr="$1"
    local out="$work/dial-sequential"
    "$bench" dial "$multiaddr" --security noise --negotiation classic --connections 100 --interval-ms 50 \
        >"$out" 2>"$out.err" \
        && connections=100 dial_lines_fell_back "$out" /noise \
        || { grep -v '"ok":true' "$out" | head -n 5 >&2; cat "$out.err" >&2; return 1; }
}

py_dials_bench() {
    local multiaddr="$1" security="$2"
    local out="$work/py-dial-$security"
    timeout 120 "$python" scripts/interop/py_peer.py dial "$multiaddr" "$connections" "$security" >"$out" 2>"$out.err" \
        || { cat "$out" >&2; tail -n 20 "$out.err" >&2; return 1; }
}

echo "== bench dial -> py-libp2p $version" >&2
py_address=$(start_listener "$work/py-listen" "$python" scripts/interop/py_peer.py listen)
for security in noise tls; do
    for negotiation in early classic; do
        for multistream in strict lazy; do
            check "bench dial $security $negotiation $multistream -> py-libp2p" \
                bench_dials_py "$py_address" "$security" "$negotiation" "$multistream"
        done
    done
done

check "bench dial, 100 connections in a row from one identity -> py-libp2p" \
    bench_dials_py_sequentially "$py_address"

echo "== py-libp2p $version -> bench listen" >&2
for negotiation in early classic; do
    bench_address=$(start_listener "$work/bench-listen-$negotiation" \
        "$bench" listen --listen /ip4/127.0.0.1/tcp/0 --security noise,tls --negotiation "$negotiation")
    for security in noise tls; do
        check "py-libp2p $security -> bench listen $negotiation" py_dials_bench "$bench_address" "$security"
    done
done

echo "interop: $passed of $((passed + failed)) checks against py-libp2p $version succeeded" >&2
[ "$failed" -eq 0 ]
