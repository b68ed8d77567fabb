# What the interoperability checks share (scripts/interop/go.sh, py.sh); sourced, not run.
#
#   interop_prepare NAME LABEL   installs peer NAME (scripts/peers/NAME/setup.sh), or skips the
#                                whole check with LABEL when it cannot be installed (exit 4)
#   interop_bench                sets $bench: $BENCH, or a release build (SCRATCH: its scratch path)
#   start_listener, stop_listener, check, connection_lines, wait_for_lines, compare, refuses
#
# Sourcing it makes a scratch folder $work and stops every listener started through it on exit.

skip() {
    echo "interop: SKIPPED: $*" >&2
    if [ "${UPGRADEBENCH_INTEROP:-}" = "required" ]; then exit 1; fi
    exit 0
}

interop_prepare() {
    local name="$1" label="$2" status=0
    "scripts/peers/$name/setup.sh" || status=$?
    case "$status" in
        0) ;;
        4) skip "$label cannot be installed here (reason above)" ;;
        *) echo "interop: scripts/peers/$name/setup.sh failed with status $status" >&2; exit 1 ;;
    esac
}

interop_bench() {
    if [ -n "${BENCH:-}" ]; then
        bench=$BENCH
        [ -x "$bench" ] || { echo "interop: BENCH=$bench is not an executable" >&2; exit 1; }
    else
        local scratch=${SCRATCH:-.build}
        swift build -c release --product bench --scratch-path "$scratch" >&2
        bench="$(swift build -c release --product bench --scratch-path "$scratch" --show-bin-path)/bench"
    fi
}

work=$(mktemp -d)
pids=()
passed=0
failed=0

interop_cleanup() {
    for pid in "${pids[@]}"; do kill "$pid" 2>/dev/null || true; done
    # Bounded: an adapter that ignores SIGTERM for 10 s is killed (the go adapter stops p2pd within
    # 5 s of SIGTERM, then kills it).
    for pid in "${pids[@]}"; do
        for _ in $(seq 1 100); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
        kill -KILL "$pid" 2>/dev/null || true
    done
    rm -rf "$work"
}
trap interop_cleanup EXIT
# A signal ends the check through the EXIT trap, so nothing it started outlives it.
trap 'exit 130' INT
trap 'exit 143' TERM
trap 'exit 141' PIPE

# Starts a listener in the background (in this shell, so that it can be waited for) and sets
# $listener_address to its multiaddr once it announced it (30 s at most). Its PID goes to OUT.pid.
start_listener() {
    local out="$1"
    shift
    "$@" >"$out" 2>"$out.err" &
    local pid=$!
    pids+=("$pid")
    echo "$pid" >"$out.pid"
    for _ in $(seq 1 300); do
        if [ -s "$out" ] && head -n 1 "$out" | grep -q '}$'; then
            listener_address=$(head -n 1 "$out" | python3 -c 'import json, sys; print(json.load(sys.stdin)["multiaddr"])')
            return 0
        fi
        kill -0 "$pid" 2>/dev/null || break
        sleep 0.1
    done
    echo "interop: listener did not start: $*" >&2
    cat "$out.err" >&2
    return 1
}

# Stops a listener with SIGTERM and waits for it (10 s at most); fails unless it exited 0.
stop_listener() {
    local out="$1" pid
    pid=$(cat "$out.pid")
    kill -TERM "$pid"
    for _ in $(seq 1 100); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
    if kill -0 "$pid" 2>/dev/null; then
        echo "  $out: still running 10 s after SIGTERM" >&2
        kill -KILL "$pid"
        return 1
    fi
    local code=0
    wait "$pid" || code=$?
    [ "$code" -eq 0 ] || { echo "  $out: exit status $code after SIGTERM" >&2; tail -n 5 "$out.err" >&2; return 1; }
}

# Runs one named check and counts it.
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

# Number of per-connection lines a listener printed so far (not the start-up line, not the summary).
connection_lines() {
    python3 - "$1" <<'PY'
import json, sys
count = 0
for line in open(sys.argv[1]):
    if line.strip().endswith("}"):
        count += "connection" in json.loads(line)
print(count)
PY
}

# Waits until a listener printed at least N connection lines (3 s at most: bench and py print a
# connection's line as soon as its upgrade ends, go's adapter reads go's metrics every 50 ms).
wait_for_lines() {
    local out="$1" want="$2"
    for _ in $(seq 1 60); do
        [ "$(connection_lines "$out")" -ge "$want" ] && return 0
        sleep 0.05
    done
    return 0 # the comparison that follows reports the shortfall
}

security_id() { [ "$1" = noise ] && echo /noise || echo /tls/1.0.0; }

# Compares a dialer's connection lines with the listener's lines from index FIRST on: EXPECTED of
# each, every one succeeded with SECURITY and EARLY on both sides, and the two sides agree pair by
# pair.
#   compare DIAL_OUT LISTEN_OUT FIRST SECURITY EARLY(true|false) EXPECTED
compare() {
    python3 - "$@" <<'PY'
import json, sys
dial_path, listen_path, first, security, early, expected = sys.argv[1:]
first, expected, early = int(first), int(expected), early == "true"

def lines(path):
    return [json.loads(line) for line in open(path) if line.strip().endswith("}")]

dialed = [line for line in lines(dial_path) if "summary" not in line]
accepted = [line for line in lines(listen_path) if "connection" in line][first:]
problems = []
if len(dialed) != expected:
    problems.append(f"dialer printed {len(dialed)} connection lines, expected {expected}")
if len(accepted) != expected:
    problems.append(f"listener printed {len(accepted)} new connection lines, expected {expected}")
for index, line in enumerate(dialed):
    if not (line["ok"] and line["security"] == security and line["early"] is early):
        problems.append(f"dialer line {index}: {json.dumps(line)}")
for index, line in enumerate(accepted):
    if not (line["error"] is None and line["security"] == security and line["early"] is early):
        problems.append(f"listener line {first + index}: {json.dumps(line)}")
for index, (out, inn) in enumerate(zip(dialed, accepted)):
    if out["early"] is not inn["early"] or out["security"] != inn["security"]:
        problems.append(f"connection {index}: dialer says {out['security']} early={out['early']}, "
                        f"listener says {inn['security']} early={inn['early']}")
# Only the first few: 100 failed connections would bury the cause.
for problem in problems[:8]:
    print("  " + problem, file=sys.stderr)
if len(problems) > 8:
    print(f"  ... and {len(problems) - 8} more", file=sys.stderr)
sys.exit(1 if problems else 0)
PY
}

# The adapter $peer refuses ARGS... with exit status 3 and prints nothing on stdout.
refuses() {
    local code=0
    timeout "$command_timeout" "$peer" "$@" >"$work/refused" 2>"$work/refused.err" || code=$?
    if [ "$code" -ne 3 ] || [ -s "$work/refused" ]; then
        echo "  exit status $code (expected 3), stdout: $(cat "$work/refused")" >&2
        cat "$work/refused.err" >&2
        return 1
    fi
}
