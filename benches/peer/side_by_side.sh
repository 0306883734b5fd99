#!/usr/bin/env bash
# pertaudit plan beside the numpy/scipy peer (plan_peer.py), on the same machine, one after the
# other, REPS times each (median reported), for the issue-16 studies on ../shared/data:
#   PerturbQA K562 (5 seeds), sigrecon K562 (5 and 20 seeds); 5 strategies x 5 rounds x 32,
#   KEGG_RIBOSOME, STRING + GO priors.
# pertaudit runs cold (an empty prior cache) and warm (the same cache again); an optional
# second binary (BEFORE=path) is timed the same way. Curves are compared with compare_curves.py.
#
#   benches/peer/side_by_side.sh [target/release/pertaudit] > figures.txt
set -euo pipefail
cd "$(dirname "$0")/../.."
BIN=${1:-target/release/pertaudit}
BEFORE=${BEFORE:-}
REPS=${REPS:-3}
D=../shared/data
OUT=$(mktemp -d)
trap 'rm -rf "$OUT"' EXIT
COMMON=(--pathways "$D/pathways/msigdb_c2.cp.kegg.v7.5.1.symbols.gmt" --pathway KEGG_RIBOSOME
    --network "$D/networks/string_v12_human_noTextmining_hc700_top3_400_entrez_symbol.tsv.gz"
    --go "$D/annotations/hs_gene2go_direct_orgHsEgDb_3.16.tsv.gz"
    --strategies random,prior,bald,coreset,iterpert --rounds 5 --batch 32)

# Wall seconds and peak RSS (MB) of one command: "wall rss".
timed() {
    /usr/bin/time -f "%e %M" -o "$OUT/t" "$@" >/dev/null 2>"$OUT/err" || {
        cat "$OUT/err" >&2
        exit 1
    }
    awk '{printf "%s %.0f\n", $1, $2 / 1024}' "$OUT/t"
}
median() { sort -n | awk '{a[NR]=$1} END {print a[int((NR+1)/2)]}'; }

study() {
    local name=$1 screen=$2 seeds=$3
    local args=(--screen "$screen" "${COMMON[@]}" --seeds "$seeds")
    local peer=() cold=() warm=() bcold=() bwarm=() rss_p=0 rss_o=0
    for _ in $(seq "$REPS"); do
        read -r w r < <(timed python3 benches/peer/plan_peer.py "${args[@]}" --out "$OUT/peer.csv")
        peer+=("$w"); rss_p=$r
        rm -rf "$OUT/cache"
        read -r w r < <(PERTAUDIT_CACHE_DIR="$OUT/cache" timed "$BIN" plan "${args[@]}" --out "$OUT/run")
        cold+=("$w"); rss_o=$r
        rm -rf "$OUT/run"
        read -r w _ < <(PERTAUDIT_CACHE_DIR="$OUT/cache" timed "$BIN" plan "${args[@]}" --out "$OUT/run")
        warm+=("$w")
        if [ -n "$BEFORE" ]; then
            rm -rf "$OUT/bcache" "$OUT/brun"
            read -r w _ < <(PERTAUDIT_CACHE_DIR="$OUT/bcache" timed "$BEFORE" plan "${args[@]}" --out "$OUT/brun")
            bcold+=("$w")
            rm -rf "$OUT/brun"
            read -r w _ < <(PERTAUDIT_CACHE_DIR="$OUT/bcache" timed "$BEFORE" plan "${args[@]}" --out "$OUT/brun")
            bwarm+=("$w")
            rm -rf "$OUT/brun"
        fi
        rm -rf "$OUT/run"
    done
    local mp mc mw
    mp=$(printf '%s\n' "${peer[@]}" | median)
    mc=$(printf '%s\n' "${cold[@]}" | median)
    mw=$(printf '%s\n' "${warm[@]}" | median)
    echo "== $name ($seeds seeds): median of $REPS"
    echo "peer (numpy/scipy, all cores)  ${mp} s  (runs: ${peer[*]})  peak RSS ${rss_p} MB"
    echo "pertaudit cold                 ${mc} s  (runs: ${cold[*]})  peak RSS ${rss_o} MB"
    echo "pertaudit warm prior cache     ${mw} s  (runs: ${warm[*]})"
    if [ -n "$BEFORE" ]; then
        echo "before: cold $(printf '%s\n' "${bcold[@]}" | median) s (runs: ${bcold[*]}), warm $(printf '%s\n' "${bwarm[@]}" | median) s (runs: ${bwarm[*]})"
    fi
    awk -v p="$mp" -v c="$mc" -v w="$mw" 'BEGIN {printf "peer / pertaudit: %.2fx cold, %.2fx warm\n", p / c, p / w}'
    PERTAUDIT_CACHE_DIR="$OUT/cache" "$BIN" bench plan "${args[@]}" 2>&1 | tail -n 9
    PERTAUDIT_CACHE_DIR="$OUT/cache" "$BIN" plan "${args[@]}" --out "$OUT/run" >/dev/null 2>&1
    python3 benches/peer/compare_curves.py "$OUT/run/curve.csv" "$OUT/peer.csv" | tail -n 1 || true
    rm -rf "$OUT/run"
}

study "PerturbQA K562" "$D/perturbseq/perturbqa/k562-de.csv" 5
study "sigrecon K562" "$D/perturbseq/sigrecon/replogle2022_k562_essential_top1000_ranked_DEGs.tsv.gz" 5
study "sigrecon K562" "$D/perturbseq/sigrecon/replogle2022_k562_essential_top1000_ranked_DEGs.tsv.gz" 20
