#!/usr/bin/env bash
# Interoperability with go-libp2p v0.32.1 (the libp2p daemon p2pd, through the `go` peer adapter,
# scripts/peers/go/peer; docs/peers.md, docs/go-libp2p.md), on loopback.
#
#   1. `bench dial` → go listener: Noise and TLS, early and classic negotiation, strict and lazy
#      multistream-select, 3 connections each. go-libp2p offers early muxer negotiation, so an early
#      dialer must report "early": true and a classic one "early": false; go's own view (the
#      early_muxer label of libp2p_swarm_connections_opened_total{dir="inbound"}, which the adapter
#      prints as one line per connection) must agree connection by connection.
#   2. go dialer → `bench listen --security noise,tls --negotiation early|classic`: every go
#      connection echoes; bench listen's line for each connection must say early true (early
#      listener) or false (classic), and so must go's (libp2p_swarm_connections_opened_total
#      {dir="outbound"}), connection by connection.
#   3. The go listener stops on SIGTERM with its summary and leaves no p2pd behind; the go dialer
#      reports connections to a closed port as failed (exit 1); the adapter refuses what go-libp2p
#      cannot do (exit 3).
#
#   scripts/interop/go.sh
#
# BENCH=path/to/bench uses that binary instead of building one (SCRATCH: the build's scratch path,
# default .build). When p2pd cannot be installed (setup.sh exits 4: no PyPI, no python3 venv, not
# x86_64) the check says so and is skipped, unless UPGRADEBENCH_INTEROP=required, which makes that a
# failure.
set -euo pipefail
cd "$(dirname "$0")/../.."

peer=scripts/peers/go/peer
connections=3
# Each command that could hang (a dial, an adapter) is stopped after this many seconds.
command_timeout=60

# shellcheck source=scripts/interop/lib.sh
source scripts/interop/lib.sh
interop_prepare go "go-libp2p v0.32.1 (p2pd)"

interop_bench

# The process IDs of a process's children (the adapter's p2pd).
children_of() {
    python3 - "$1" <<'PY'
import os, sys
parent = sys.argv[1]
for entry in os.listdir("/proc"):
    if entry.isdigit():
        try:
            stat = open(f"/proc/{entry}/stat").read()
        except OSError:
            continue
        # Fields after the command (which may hold spaces) start after its closing parenthesis.
        if stat[stat.rindex(")") + 2:].split()[1] == parent:
            print(entry)
PY
}

bench_dials_go() {
    local listen_out="$1" multiaddr="$2" security="$3" negotiation="$4" multistream="$5"
    local out="$work/bench-dial-$security-$negotiation-$multistream" first early
    first=$(connection_lines "$listen_out")
    early=$([ "$negotiation" = early ] && echo true || echo false)
    local code=0
    timeout "$command_timeout" "$bench" dial "$multiaddr" --security "$security" --negotiation "$negotiation" \
        --multistream "$multistream" --connections "$connections" >"$out" 2>"$out.err" || code=$?
    wait_for_lines "$listen_out" $((first + connections))
    if [ "$code" -ne 0 ]; then
        echo "  bench dial exit status $code" >&2
        cat "$out" "$out.err" >&2
        return 1
    fi
    compare "$out" "$listen_out" "$first" "$(security_id "$security")" "$early" "$connections" || { cat "$out.err" >&2; return 1; }
}

go_dials_bench() {
    local listen_out="$1" multiaddr="$2" security="$3" negotiation="$4"
    local out="$work/go-dial-$security-$negotiation" first early
    first=$(connection_lines "$listen_out")
    early=$([ "$negotiation" = early ] && echo true || echo false)
    local code=0
    timeout "$command_timeout" "$peer" dial "$multiaddr" --security "$security" --connections "$connections" \
        >"$out" 2>"$out.err" || code=$?
    wait_for_lines "$listen_out" $((first + connections))
    if [ "$code" -ne 0 ]; then
        echo "  go dial exit status $code" >&2
        cat "$out" "$out.err" >&2
        return 1
    fi
    compare "$out" "$listen_out" "$first" "$(security_id "$security")" "$early" "$connections" || { cat "$out.err" >&2; return 1; }
}

# The go listener's summary after SIGTERM counts every upgraded connection, and its p2pd is gone.
go_listener_stops() {
    local out="$1" total="$2" early="$3" children
    children=$(children_of "$(cat "$out.pid")")
    [ -n "$children" ] || { echo "  no p2pd child found under the adapter" >&2; return 1; }
    stop_listener "$out" || return 1
    for child in $children; do
        if kill -0 "$child" 2>/dev/null; then
            echo "  p2pd (PID $child) still runs after the adapter stopped" >&2
            return 1
        fi
    done
    python3 - "$out" "$total" "$early" <<'PY'
import json, sys
path, total, early = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
summary = json.loads(open(path).read().splitlines()[-1]).get("summary")
# go's metrics count upgraded connections only: the adapter cannot know attempts or failures (null).
want = {"connections": None, "succeeded": total, "failed": None, "early": early}
if summary != want:
    print(f"  summary {summary}, expected {want}", file=sys.stderr)
    sys.exit(1)
PY
}

# The adapter exits 3, before starting anything, for what go-libp2p cannot do.

echo "== bench dial -> go-libp2p v0.32.1" >&2
go_out="$work/go-listen"
start_listener "$go_out" "$peer" listen --listen /ip4/127.0.0.1/tcp/0 --security noise,tls
go_address=$listener_address
for security in noise tls; do
    for negotiation in early classic; do
        for multistream in strict lazy; do
            check "bench dial $security $negotiation $multistream -> go-libp2p" \
                bench_dials_go "$go_out" "$go_address" "$security" "$negotiation" "$multistream"
        done
    done
done
check "go-libp2p listener: summary after SIGTERM, p2pd stopped" \
    go_listener_stops "$go_out" $((8 * connections)) $((4 * connections))

echo "== go-libp2p v0.32.1 -> bench listen" >&2
for negotiation in early classic; do
    bench_out="$work/bench-listen-$negotiation"
    start_listener "$bench_out" "$bench" listen --listen /ip4/127.0.0.1/tcp/0 --security noise,tls --negotiation "$negotiation"
    bench_address=$listener_address
    for security in noise tls; do
        check "go-libp2p $security -> bench listen $negotiation" \
            go_dials_bench "$bench_out" "$bench_address" "$security" "$negotiation"
    done
    check "bench listen $negotiation stops on SIGTERM" stop_listener "$bench_out"
done

# A connection that fails is a line with "ok": false and "stage: reason", and exit status 1, in
# well under the 10 s bound when the port is closed.
go_dial_fails() {
    local port out="$work/go-dial-closed" code=0
    port=$(python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
    timeout "$command_timeout" "$peer" dial "/ip4/127.0.0.1/tcp/$port/p2p/${go_address##*/p2p/}" --connections 2 \
        >"$out" 2>"$out.err" || code=$?
    python3 - "$out" "$code" <<'PY'
import json, sys
lines = [json.loads(line) for line in open(sys.argv[1]) if line.strip()]
code = int(sys.argv[2])
connections = [line for line in lines if "summary" not in line]
summary = lines[-1].get("summary") if lines else None
good = (code == 1 and len(connections) == 2
        and all(not line["ok"] and line["error"].startswith("connect: ") for line in connections)
        and summary is not None and summary["failed"] == 2)
if not good:
    print(f"  exit status {code}, lines {lines}", file=sys.stderr)
sys.exit(0 if good else 1)
PY
}

echo "== failures and what go-libp2p cannot do" >&2
check "go dialer reports connections to a closed port as failed (exit 1)" go_dial_fails
check "go listener refuses --negotiation classic (exit 3)" refuses listen --negotiation classic
check "go dialer refuses --negotiation classic (exit 3)" refuses dial "$go_address" --negotiation classic
check "go dialer refuses --multistream lazy (exit 3)" refuses dial "$go_address" --multistream lazy

total=$((passed + failed))
echo "interop: $passed of $total checks against go-libp2p v0.32.1 succeeded" >&2
[ "$total" -gt 0 ] && [ "$failed" -eq 0 ]
