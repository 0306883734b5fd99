#!/usr/bin/env bash
# The plan's scaling curve in the pool size n: `pertaudit simulate` screens of n perturbations
# (5 pathways x 3 complexes x 8 genes plus n - 120 background genes) x READOUTS readout genes,
# and `pertaudit bench plan` on each with 5 strategies x SEEDS seeds x 5 rounds x BATCH, STRING-
# like network prior, cold prior cache, THREADS worker threads. Prints one line per n: wall
# seconds, peak RSS and the phase split.
#
#   benches/scaling.sh [target/release/pertaudit] > scaling.txt
#   SIZES="500 1000 2000 5000 10000" READOUTS=8000 SEEDS=10 BATCH=64 THREADS=2 (the defaults)
set -euo pipefail
cd "$(dirname "$0")/.."
BIN=${1:-target/release/pertaudit}
SIZES=${SIZES:-"500 1000 2000 5000 10000"}
READOUTS=${READOUTS:-8000}
SEEDS=${SEEDS:-10}
BATCH=${BATCH:-64}
THREADS=${THREADS:-2}
WORK=$(mktemp -d)
trap 'rm -rf "$WORK"' EXIT
for n in $SIZES; do
    sim="$WORK/sim-$n"
    "$BIN" simulate --out "$sim" --pathways 5 --complexes 3 --genes-per-complex 8 \
        --background $((n - 120)) --readouts "$READOUTS" >/dev/null
    rm -rf "$WORK/cache"
    PERTAUDIT_CACHE_DIR="$WORK/cache" /usr/bin/time -f "%e %M" -o "$WORK/t" \
        "$BIN" bench plan --screen "$sim/screen.tsv" --pathways "$sim/pathways.gmt" \
        --pathway SIM_PATHWAY_1 --network "$sim/network.tsv" \
        --strategies random,prior,bald,coreset,iterpert --seeds "$SEEDS" --rounds 5 \
        --batch "$BATCH" --threads "$THREADS" >"$WORK/phases" 2>&1
    read -r wall rss <"$WORK/t"
    phases=$(awk '$1 ~ /^(load|priors|gram|loop|statistics|output)$/ {printf "%s %s s, ", $1, $2}' "$WORK/phases")
    printf 'n = %5d: %7.1f s wall, peak RSS %6.0f MB (%s)\n' "$n" "$wall" "$((rss / 1024))" "${phases%, }"
    rm -rf "$sim"
done
