#!/usr/bin/env bash
# The main job: install what is missing, then run the default benchmark matrix.
# Extra arguments go to `bench` (see `swift run -c release bench --help`).
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup.sh
exec swift run -c release bench "$@"
