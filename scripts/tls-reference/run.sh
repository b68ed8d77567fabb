#!/usr/bin/env bash
# Builds the C reference for the TLS benchmarks with gcc -O2 (as docs/machine.md's figures) and runs it.
# The same C code also runs inside `swift package --package-path Benchmarks benchmark --target TLSBenchmarks`.
set -euo pipefail
cd "$(dirname "$0")/../.."
out="${TMPDIR:-/tmp}/tls-reference"
gcc -O2 -o "$out" -I Benchmarks/Sources/CTLSReference/include \
    scripts/tls-reference/main.c Benchmarks/Sources/CTLSReference/tls_reference.c -lssl -lcrypto -lsodium
"$out" "$@"
