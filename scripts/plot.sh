#!/usr/bin/env bash
# Turns a results folder into PNG plots with gnuplot.
#
#   scripts/plot.sh results/<name> [output-folder]
#
# Reads the plot data `bench` writes to results/<name>/gnuplot/ and writes, by default into
# results/<name>/plots/:
#   cdf-<security>-<rtt>ms-<emulator>-c<n>.png  latency CDF, early vs classic (strict and lazy)
#   latency-vs-rtt.png                          median latency against RTT with the k x RTT model lines
#   saving.png                                  early's saving over classic, in RTTs and in ms
#   stages-<rtt>ms-<emulator>.png               stage breakdown (median time per stage interval)
# The gnuplot scripts are in scripts/plot/; they need gnuplot 5 (Debian: gnuplot-nox).
set -euo pipefail

if [ $# -lt 1 ] || [ $# -gt 2 ]; then
    echo "usage: $0 results/<name> [output-folder]" >&2
    exit 2
fi
results=${1%/}
data="$results/gnuplot"
out=${2:-$results/plots}
scripts="$(cd "$(dirname "$0")" && pwd)/plot"

if ! command -v gnuplot >/dev/null 2>&1; then
    echo "plot: gnuplot is not installed (Debian: apt-get install gnuplot-nox)" >&2
    exit 1
fi
if [ ! -d "$data" ]; then
    echo "plot: $data does not exist; is $results a folder written by bench?" >&2
    exit 1
fi
# Paths go into gnuplot string literals in single quotes.
case "$results$out$scripts" in
    *"'"*) echo "plot: paths with a single quote are not supported" >&2; exit 1 ;;
esac

# pngcairo draws anti-aliased lines and transparency; fall back to the libgd png terminal.
if gnuplot -e "set terminal pngcairo" >/dev/null 2>&1; then
    term=pngcairo
else
    term=png
fi

mkdir -p "$out"
written=()
plot() {
    local script=$1 output=$2 variables=$3
    gnuplot -e "scriptdir='$scripts'; term='$term'; datadir='$data'; output='$output'; $variables" "$scripts/$script"
    written+=("$output")
}

shopt -s nullglob
for list in "$data"/cdfgroup-*.txt; do
    group=$(basename "$list" .txt)
    group=${group#cdfgroup-}
    plot cdf.gp "$out/cdf-$group.png" "list='$list'; group='$group'"
done
if [ -f "$data/median-paths.txt" ]; then
    plot latency-vs-rtt.gp "$out/latency-vs-rtt.png" ""
fi
if [ -f "$data/saving-groups.txt" ]; then
    plot saving.gp "$out/saving.png" ""
fi
if [ -f "$data/stages-groups.txt" ]; then
    while read -r group; do
        [ -n "$group" ] || continue
        plot stages.gp "$out/stages-$group.png" "group='$group'"
    done <"$data/stages-groups.txt"
fi

if [ ${#written[@]} -eq 0 ]; then
    echo "plot: no plot data in $data" >&2
    exit 1
fi
printf '%s\n' "${written[@]}"
