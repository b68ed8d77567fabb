#!/usr/bin/env bash
# Installs py-libp2p (PyPI `libp2p`, pinned) for the py adapter, once: into a virtual environment at
# .build-peers/py/venv (gitignored). Later runs check the installed version and return at once.
#
#   scripts/peers/py/setup.sh            # libp2p==0.8.1
#   PY_LIBP2P_VERSION=0.8.2 scripts/peers/py/setup.sh
#
# Quiet on success. Exit code 4, with the reason on stderr, when py-libp2p cannot be installed (no
# python3, no venv module, PyPI unreachable): the adapter contract's "not installed and cannot be"
# (docs/peers.md). A changed PY_LIBP2P_VERSION replaces the environment; should that install fail,
# the previous one is put back.
set -euo pipefail

root="$(cd "$(dirname "$0")/../../.." && pwd)"
version="${PY_LIBP2P_VERSION:-0.8.1}"
dir="$root/.build-peers/py"
venv="$dir/venv"
# Written last, after the import check: a venv without it is a broken or interrupted install.
marker="$venv/.upgradebench-libp2p-version"

installed() { [ -x "$venv/bin/python" ] && [ "$(cat "$marker" 2>/dev/null)" = "$version" ]; }

if installed; then exit 0; fi

unavailable() {
    echo "py setup: $*" >&2
    exit 4
}
# A failed install: its half-made environment goes, the one it was to replace (if any) comes back.
previous="$dir/venv.previous"
install_failed() {
    rm -rf "$venv"
    if [ -d "$previous" ]; then mv "$previous" "$venv"; fi
    unavailable "$@"
}

mkdir -p "$dir"
# Two adapters started at once (listener and dialer) must not build the same venv together; the
# second waits for the first (bounded: an install that takes 10 minutes is stuck), then finds it done.
exec 9>"$dir/setup.lock"
if command -v flock >/dev/null 2>&1; then
    flock --timeout 600 9 || unavailable "another install of py-libp2p has held $dir/setup.lock for 10 minutes"
fi
if installed; then exit 0; fi

command -v python3 >/dev/null 2>&1 || unavailable "python3 is not installed"
log="$dir/setup.log"
rm -rf "$previous"
if [ -d "$venv" ]; then mv "$venv" "$previous"; fi
if ! python3 -m venv "$venv" >"$log" 2>&1; then
    cat "$log" >&2
    install_failed "python3 cannot make a virtual environment (Debian: apt-get install python3-venv)"
fi
if ! "$venv/bin/python" -m pip install --disable-pip-version-check --no-input --quiet \
    "libp2p==$version" >>"$log" 2>&1; then
    tail -n 20 "$log" >&2
    install_failed "could not install libp2p==$version from PyPI (log above, in full in $log)"
fi
# An installed wheel that does not import (a missing system library) is as good as none.
if ! "$venv/bin/python" -c 'import libp2p' >>"$log" 2>&1; then
    tail -n 20 "$log" >&2
    install_failed "libp2p==$version installed but does not import (log above, in full in $log)"
fi
echo "$version" >"$marker"
rm -rf "$previous"
