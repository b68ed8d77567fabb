#!/usr/bin/env bash
# Counts the network round trips inside the go adapter's timings (docs/go-libp2p.md, "Measured"):
# the go dialer (scripts/peers/go/peer) dials `bench listen` through scripts/independent-relay/relay.c,
# which delays every byte by half the RTT in each direction, and each timing is divided by the RTT.
#
#   scripts/peers/go/round-trips.sh [--rtt-ms 20] [--connections 10]
#
# The relay connects to the listener as soon as it accepts, so the TCP handshake costs no round trip
# here (go does time it: see the doc). Expected, per connection, from the go-libp2p v0.32.1 source:
#   own_us.handshake                   2 RTT early (security multistream-select, Noise XX / TLS 1.3),
#                                      3 RTT classic (plus the muxer's multistream-select)
#   own_us.connect - own_us.handshake  1 RTT (Host.Connect waits for identify; bench answers `na`)
#   first_echo - own_us.connect        2 RTT on the first connection (/echo/1.0.0 negotiated, then
#                                      the echo), 1 RTT on later ones (go then proposes /echo/1.0.0
#                                      lazily: its peerstore remembers the peer supports it)
# Exit status 1 when a connection fails or a median is more than 0.3 RTT off.
#
# BENCH=path/to/bench uses that binary; otherwise bench is built (SCRATCH: scratch path, default .build).
set -euo pipefail
cd "$(dirname "$0")/../../.."

rtt_ms=20
connections=10
while [ $# -gt 0 ]; do
    case "$1" in
        --rtt-ms) rtt_ms="$2"; shift 2 ;;
        --connections) connections="$2"; shift 2 ;;
        -h|--help) sed -n '2,19p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
        *) echo "round-trips.sh: unknown argument $1" >&2; exit 2 ;;
    esac
done
case "$rtt_ms$connections" in ''|*[!0-9]*) echo "round-trips.sh: --rtt-ms and --connections take whole numbers" >&2; exit 2 ;; esac
[ "$connections" -ge 2 ] || { echo "round-trips.sh: --connections must be at least 2" >&2; exit 2; }

peer=scripts/peers/go/peer
# shellcheck source=scripts/interop/lib.sh
source scripts/interop/lib.sh
interop_prepare go "go-libp2p v0.32.1 (p2pd)"
interop_bench

cc -O2 -Wall -Wextra -o "$work/relay" scripts/independent-relay/relay.c

# Waits (10 s at most) until FILE has a first line; fails if PID ends first.
wait_line() {
    local file="$1" pid="$2"
    for _ in $(seq 1 100); do
        [ -s "$file" ] && return 0
        kill -0 "$pid" 2>/dev/null || break
        sleep 0.1
    done
    echo "round-trips.sh: no output in $file" >&2
    return 1
}

status=0
for negotiation in early classic; do
    "$bench" listen --listen /ip4/127.0.0.1/tcp/0 --security noise,tls --negotiation "$negotiation" \
        >"$work/listen-$negotiation" 2>"$work/listen-$negotiation.err" &
    pids+=("$!")
    wait_line "$work/listen-$negotiation" "$!"
    multiaddr=$(head -n 1 "$work/listen-$negotiation" | python3 -c 'import json, sys; print(json.load(sys.stdin)["multiaddr"])')
    port=$(echo "$multiaddr" | cut -d/ -f5)
    peer_id=${multiaddr##*/p2p/}
    "$work/relay" 0 "$port" $((rtt_ms * 500)) >"$work/relay-$negotiation" 2>"$work/relay-$negotiation.err" &
    pids+=("$!")
    wait_line "$work/relay-$negotiation" "$!"
    relay_port=$(awk '$1 == "ready" { print $2; exit }' "$work/relay-$negotiation")
    for security in noise tls; do
        out="$work/dial-$negotiation-$security"
        # 100 ms apart: nothing of one connection is still in flight through the relay when the next starts.
        timeout 120 "$peer" dial "/ip4/127.0.0.1/tcp/$relay_port/p2p/$peer_id" --security "$security" \
            --connections "$connections" --interval-ms 100 >"$out" 2>"$out.err" || true
        python3 - "$out" "$negotiation" "$security" "$rtt_ms" "$connections" <<'PY' || status=1
import json, statistics, sys
path, negotiation, security, rtt_ms, expected_count = sys.argv[1], sys.argv[2], sys.argv[3], float(sys.argv[4]), int(sys.argv[5])
rtt = rtt_ms * 1000
lines = [json.loads(line) for line in open(path) if line.startswith("{") and '"ok"' in line]
ok = [line for line in lines if line["ok"]]
if len(ok) != expected_count:
    print(f"{negotiation} {security}: {len(ok)} of {expected_count} connections succeeded", file=sys.stderr)
    for line in lines:
        if not line["ok"]:
            print(f"  {line['error']}", file=sys.stderr)
    sys.exit(1)
handshake = statistics.median(line["own_us"]["handshake"] / rtt for line in ok)
identify = statistics.median((line["own_us"]["connect"] - line["own_us"]["handshake"]) / rtt for line in ok)
first = (ok[0]["stages_us"]["first_echo"] - ok[0]["own_us"]["connect"]) / rtt
later = statistics.median((line["stages_us"]["first_echo"] - line["own_us"]["connect"]) / rtt for line in ok[1:])
early = {line["early"] for line in ok}
model = {"handshake": 2 if negotiation == "early" else 3, "connect-handshake": 1, "echo, first": 2, "echo, later": 1}
measured = {"handshake": handshake, "connect-handshake": identify, "echo, first": first, "echo, later": later}
off = [name for name in model if abs(measured[name] - model[name]) > 0.3]
if early != {negotiation == "early"}:
    off.append(f"early {sorted(early)}")
print(f"{negotiation:7} {security:5} RTTs (median of {len(ok)}): "
      + ", ".join(f"{name} {measured[name]:.2f} (model {model[name]})" for name in model)
      + ("" if not off else f"  OFF: {', '.join(off)}"))
sys.exit(1 if off else 0)
PY
    done
done
exit "$status"
