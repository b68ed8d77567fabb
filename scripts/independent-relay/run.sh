#!/usr/bin/env bash
# Independent check of the suite's round-trip accounting.
#   scripts/independent-relay/run.sh [--connections N] [--rtts "10 20"]
#
# Every upgrade path (security x negotiation x multistream) is dialed once directly over
# loopback and once per RTT through relay.c, a delaying TCP relay that shares no code with
# the suite's own emulators. For muxer_ready and first_echo it reports the network round
# trips bench attributes to the critical path (network p10 / relay RTT measured by ping.py; the
# 10th percentile for the reason given in README.md, "Round-trip accounting"),
# the round trips seen from outside (relay p50 - direct p50) / requested RTT, and the
# model's count. The relay connects to the listener as soon as it accepts, so connect()
# costs no round trip and the model is the TUN model minus one.
# Exit status 1 when a dial fails, a network count at muxer_ready is more than 0.05 off the
# model, or early's saving with strict multistream-select is outside 1.00 +- 0.05.
set -euo pipefail
cd "$(dirname "$0")/../.."

connections=25
rtts="10 20"
while [ $# -gt 0 ]; do
    case "$1" in
        --connections) connections="$2"; shift 2 ;;
        --rtts) rtts="$2"; shift 2 ;;
        -h|--help) sed -n '2,13p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
        *) echo "run.sh: unknown argument $1" >&2; exit 2 ;;
    esac
done
case "$connections" in ''|*[!0-9]*) echo "run.sh: --connections needs a number" >&2; exit 2 ;; esac

relay=.build-relay/relay
bench=.build/release/bench
work=$(mktemp -d "${TMPDIR:-/tmp}/independent-relay.XXXXXX")
pids=()
fg_pid=
status=1

# Stop what we started, by pid: TERM, up to 5 s of grace, then KILL.
cleanup() {
    local pid i
    trap '' INT TERM    # a second signal must not cut the clean-up short
    if [ -n "$fg_pid" ]; then pids+=("$fg_pid"); fi
    for pid in "${pids[@]}"; do kill -TERM "$pid" 2>/dev/null || true; done
    for i in $(seq 50); do
        local alive=0
        for pid in "${pids[@]}"; do kill -0 "$pid" 2>/dev/null && alive=1; done
        [ "$alive" = 0 ] && break
        sleep 0.1
    done
    for pid in "${pids[@]}"; do kill -KILL "$pid" 2>/dev/null || true; done
    if [ "$status" = 0 ]; then rm -rf "$work"; else echo "run.sh: outputs kept in $work" >&2; fi
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

# Wait (at most $3 seconds) until file $1 holds a complete line while process $2 lives.
wait_line() {
    local deadline=$((SECONDS + $3))
    while [ "$SECONDS" -lt "$deadline" ]; do
        if [ -s "$1" ] && [ "$(tail -c1 "$1" | od -An -c | tr -d ' ')" = '\n' ]; then return 0; fi
        kill -0 "$2" 2>/dev/null || { echo "run.sh: process $2 exited early; see $1" >&2; return 1; }
        sleep 0.05
    done
    echo "run.sh: timed out waiting for $1" >&2
    return 1
}

# bounded SECONDS STDOUT STDERR COMMAND...: run COMMAND with a timeout, in the background so
# that a TERM or INT reaches the trap at once. The redirections are made here, not on the
# call, so that the trap's own messages still reach the terminal.
bounded() {
    local secs=$1 out=$2 err=$3 rc=0
    shift 3
    timeout "$secs" "$@" >"$out" 2>"$err" &
    fg_pid=$!
    wait "$fg_pid" || rc=$?
    fg_pid=
    return "$rc"
}

mkdir -p .build-relay
cc -O2 -Wall -Wextra -o "$relay" scripts/independent-relay/relay.c
if [ ! -x "$bench" ]; then
    swift build -c release --product bench
fi

"$bench" listen --listen /ip4/127.0.0.1/tcp/0 --security noise,tls --negotiation early \
    --trace-file "$work/listener-trace" >"$work/listener.out" 2>"$work/listener.err" &
pids+=($!)
wait_line "$work/listener.out" "$!" 30
multiaddr=$(head -n1 "$work/listener.out" | python3 -c 'import json,sys; print(json.load(sys.stdin)["multiaddr"])')
listen_port=$(printf '%s\n' "$multiaddr" | sed -n 's#^/ip4/127\.0\.0\.1/tcp/\([0-9]*\)/.*#\1#p')
[ -n "$listen_port" ] || { echo "run.sh: cannot read the port of $multiaddr" >&2; exit 1; }
echo "listener: $multiaddr" >&2

# One relay per RTT serves every path; its own RTT is measured first by ping.py.
declare -A relay_addr
for rtt in $rtts; do
    delay_us=$(python3 -c "print(round(float('$rtt') * 500))")
    bounded 60 "$work/ping-$rtt.json" "$work/ping-$rtt.err" \
        python3 scripts/independent-relay/ping.py "$relay" "$delay_us" ||
        { echo "run.sh: ping.py failed:" >&2; cat "$work/ping-$rtt.err" >&2; exit 1; }
    echo "relay RTT for $rtt ms: $(cat "$work/ping-$rtt.json")" >&2
    "$relay" 0 "$listen_port" "$delay_us" >"$work/relay-$rtt.out" 2>"$work/relay-$rtt.err" &
    pids+=($!)
    wait_line "$work/relay-$rtt.out" "$!" 10
    relay_port=$(awk '$1 == "ready" { print $2; exit }' "$work/relay-$rtt.out")
    relay_addr[$rtt]="/ip4/127.0.0.1/tcp/$relay_port${multiaddr#/ip4/127.0.0.1/tcp/$listen_port}"
done

dial_timeout=$((60 + connections * 15))
for security in noise tls; do
    for negotiation in classic early; do
        for multistream in strict lazy; do
            path="$security-$negotiation-$multistream"
            for target in direct $rtts; do
                if [ "$target" = direct ]; then addr=$multiaddr; else addr=${relay_addr[$target]}; fi
                out="$work/dial-$path-$target"
                echo "dial $path via $target" >&2
                rc=0
                bounded "$dial_timeout" "$out.jsonl" "$out.err" \
                    "$bench" dial "$addr" --security "$security" \
                    --negotiation "$negotiation" --multistream "$multistream" \
                    --connections "$connections" --listener-trace "$work/listener-trace" || rc=$?
                echo "$rc" >"$out.rc"
                [ "$rc" = 0 ] || echo "run.sh: dial $path via $target exited $rc (see $out.err)" >&2
            done
        done
    done
done

rc=0
python3 - "$work" "$rtts" <<'EOF' || rc=$?
import json, os, statistics, sys

work, rtts = sys.argv[1], sys.argv[2].split()
# Round trips after connect() on a relay that does not delay the TCP handshake.
MODEL = {("classic", "strict"): (3, 5), ("early", "strict"): (2, 4),
         ("classic", "lazy"): (1, 2), ("early", "lazy"): (1, 2)}
TOL = 0.05
problems = []


def load(path, target):
    name = os.path.join(work, "dial-%s-%s" % (path, target))
    summary, lines = None, []
    try:
        with open(name + ".jsonl") as f:
            for line in f:
                line = line.strip()
                if not line.startswith("{"):
                    continue
                obj = json.loads(line)
                if "summary" in obj:
                    summary = obj["summary"]
                else:
                    lines.append(obj)
        rc = open(name + ".rc").read().strip()
    except (OSError, ValueError) as e:
        problems.append("%s via %s: unreadable output (%s)" % (path, target, e))
        return None, []
    if rc != "0" or summary is None or summary.get("failed", 1) != 0:
        problems.append("%s via %s: dial exited %s, summary %s" % (path, target, rc, summary))
    return summary, lines


def get(summary, key):
    v = (summary or {}).get(key)
    return v if isinstance(v, (int, float)) else None


def flights(lines, stage):
    vs = [l.get("flights", {}).get(stage) for l in lines if l.get("ok")]
    vs = [v for v in vs if isinstance(v, (int, float))]
    return statistics.median(vs) if vs else None


def fmt(v, spec="%.2f"):
    return "n/a" if v is None else spec % v


ping = {r: json.load(open(os.path.join(work, "ping-%s.json" % r))) for r in rtts}
print("Relay RTT (ping.py, 1-byte ping-pong, median of %d): %s\n" % (
    ping[rtts[0]]["samples"],
    ", ".join("%s ms requested -> %.3f ms" % (r, ping[r]["rtt_p50_us"] / 1000) for r in rtts)))
print("RT: round trips. network = bench's critical-path network p10 / relay RTT; loopback-subtracted ="
      " (p50 through the relay - p50 direct) / requested RTT; flights = median flights"
      " bench counts on the critical path (tcp_connected's 2 included).\n")
print("| security | negotiation | multistream | RTT (ms) | muxer_ready network RT | "
      "muxer_ready loopback-subtracted RT | model | flights | "
      "first_echo network RT | first_echo loopback-subtracted RT | model | check |")
print("|---|---|---|---:|---:|---:|---:|---:|---:|---:|---:|---|")
network_rt = {}
for security in ("noise", "tls"):
    for negotiation in ("classic", "early"):
        for multistream in ("strict", "lazy"):
            path = "%s-%s-%s" % (security, negotiation, multistream)
            direct, _ = load(path, "direct")
            model = MODEL[(negotiation, multistream)]
            for r in rtts:
                summary, lines = load(path, r)
                relay_rtt = ping[r]["rtt_p50_us"]
                req_rt = float(r) * 1000
                cells, mr_net = [], None
                for i, stage in enumerate(("muxer_ready", "first_echo")):
                    net = get(summary, stage + "_network_p10_us")
                    net_rt = net / relay_rtt if net is not None else None
                    through, base = get(summary, stage + "_p50_us"), get(direct, stage + "_p50_us")
                    sub_rt = (through - base) / req_rt if None not in (through, base) else None
                    cells += [fmt(net_rt), fmt(sub_rt)]
                    if stage == "muxer_ready":
                        mr_net = net_rt
                    cells.append(str(model[i]))
                    if stage == "muxer_ready":
                        cells.append(fmt(flights(lines, stage), "%g"))
                network_rt[(security, negotiation, multistream, r)] = mr_net
                ok = mr_net is not None and abs(mr_net - model[0]) <= TOL
                if not ok:
                    problems.append("%s at %s ms: muxer_ready network round trips %s, model %d"
                                    % (path, r, fmt(mr_net), model[0]))
                print("| %s | %s | %s | %s | %s | %s |" % (security, negotiation, multistream, r,
                                                       " | ".join(cells), "ok" if ok else "FAIL"))

print("\nEarly's saving at muxer_ready (classic - early, network round trips):\n")
print("| security | multistream | RTT (ms) | classic | early | saving | model | check |")
print("|---|---|---:|---:|---:|---:|---:|---|")
for security in ("noise", "tls"):
    for multistream in ("strict", "lazy"):
        expected = MODEL[("classic", multistream)][0] - MODEL[("early", multistream)][0]
        for r in rtts:
            c = network_rt[(security, "classic", multistream, r)]
            e = network_rt[(security, "early", multistream, r)]
            saving = c - e if None not in (c, e) else None
            check = "-"
            if multistream == "strict":
                ok = saving is not None and abs(saving - 1.0) <= TOL
                check = "ok" if ok else "FAIL"
                if not ok:
                    problems.append("%s/%s at %s ms: early saves %s round trips, expected 1.00"
                                    % (security, multistream, r, fmt(saving)))
            print("| %s | %s | %s | %s | %s | %s | %d | %s |" % (
                security, multistream, r, fmt(c), fmt(e), fmt(saving), expected, check))

if problems:
    print("\nProblems:")
    for p in problems:
        print("- " + p)
    sys.exit(1)
EOF
status=$rc
exit "$rc"
