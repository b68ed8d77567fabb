#!/usr/bin/env bash
# Builds scripts/machine/cold-compute.c with gcc -O2 against the system OpenSSL and runs it
# (docs/machine.md, "Compute after an idle wait").
set -euo pipefail
cd "$(dirname "$0")/../.."
mkdir -p .build-machine
cc -O2 -Wall -Wextra -o .build-machine/cold-compute scripts/machine/cold-compute.c -lcrypto
exec .build-machine/cold-compute
