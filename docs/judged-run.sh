#!/usr/bin/env bash
# The judged run of issue 5 and the LLM-planner run of issue 6, on the Replogle K562 essential
# screen (sigrecon ranked DEGs), end to end with the embedded local model:
#   plan (random, bald, iterpert, llm) × 5 KEGG pathways × 2 seeds × 5 rounds of 6
#   → blind → judge (3 judge configs on 127.0.0.1) → stats.
# Resumable: every LLM answer is in the runs' ledgers; rerunning makes no call it already made.
# Usage: bash docs/judged-run.sh [OUT=runs/k562-judged]
set -euo pipefail
cd "$(dirname "$0")/.."
OUT=${1:-runs/k562-judged}
D=../shared/data
BIN=./target/release/pertaudit
cargo build --release --quiet
$BIN model fetch
mkdir -p "$OUT"
runs=()
for P in KEGG_RIBOSOME KEGG_SPLICEOSOME KEGG_DNA_REPLICATION KEGG_RNA_DEGRADATION KEGG_PROTEASOME; do
  $BIN plan \
    --screen $D/perturbseq/sigrecon/replogle2022_k562_essential_top1000_ranked_DEGs.tsv.gz \
    --pathways $D/pathways/msigdb_c2.cp.kegg.v7.5.1.symbols.gmt --pathway $P \
    --network $D/networks/string_v12_human_noTextmining_hc700_top3_400_entrez_symbol.tsv.gz \
    --go $D/annotations/hs_gene2go_direct_orgHsEgDb_3.16.tsv.gz \
    --annotations $D/annotations/hs_gene_context_from_GO.tsv.gz \
    --genes $D/annotations/hs_genes_orgHsEgDb_3.16.tsv.gz \
    --strategies random,bald,iterpert,llm --llm-model judges/local-planner.toml \
    --seeds 2 --rounds 5 --batch 6 --shortlist-factor 3 --reprompts 0 \
    --out "$OUT/plan-$P" > "$OUT/plan-$P.log"
  runs+=("$OUT/plan-$P")
done
$BIN blind "${runs[@]}" --out "$OUT/tasks" \
  --annotations $D/annotations/hs_gene_context_from_GO.tsv.gz --seed 1

# The panel on 127.0.0.1: three scripted judges (`pertaudit serve --scripted`) — a content
# rule (more pathway members wins), a narrower content rule (more ribosomal-protein genes wins)
# and a pure position-biased judge — for all 5 pathways; then the embedded model over HTTP
# (`pertaudit serve`) judges the ribosome tasks (a tiny model: a smoke test, not evidence).
$BIN serve --port 0 > "$OUT/serve.addr" 2> "$OUT/serve.log" &
SERVE=$!
$BIN serve --scripted --port 0 > "$OUT/scripted.addr" &
SCRIPTED=$!
trap 'kill $SERVE $SCRIPTED 2>/dev/null || true' EXIT
for f in serve scripted; do
  for _ in $(seq 1 600); do [ -s "$OUT/$f.addr" ] && break; sleep 0.1; done
done
LOCAL=$(sed 's/listening on //' "$OUT/serve.addr")
SCR=$(sed 's/listening on //; s#/v1##' "$OUT/scripted.addr")
mkdir -p "$OUT/judges"
cat > "$OUT/judges/members-rule.toml" <<T
name = "members-rule"
provider = "openai"
base_url = "$SCR/members/v1"
model = "scripted-members"
family = "scripted"
concurrency = 4
T
cat > "$OUT/judges/ribo-rule.toml" <<T
name = "ribo-rule"
provider = "openai"
base_url = "$SCR/ribo/v1"
model = "scripted-ribo"
family = "scripted"
concurrency = 4
T
cat > "$OUT/judges/first-position.toml" <<T
name = "first-position"
provider = "openai"
base_url = "$SCR/always-a/v1"
model = "scripted-always-a"
family = "scripted"
concurrency = 4
T
cat > "$OUT/judges/smollm-http.toml" <<T
name = "smollm-http"
provider = "openai"
base_url = "$LOCAL"
model = "SmolLM2-135M-Instruct.Q4_1"
family = "smollm"
max_tokens = 80
concurrency = 1
timeout_secs = 1800
max_retries = 1
T
$BIN judge "$OUT/tasks" --run "$OUT/judged" --planner-family smollm \
  --judges "$OUT/judges/members-rule.toml" "$OUT/judges/ribo-rule.toml" "$OUT/judges/first-position.toml"
$BIN blind "$OUT/plan-KEGG_RIBOSOME" --out "$OUT/tasks-ribosome" \
  --annotations $D/annotations/hs_gene_context_from_GO.tsv.gz --seed 1
$BIN judge "$OUT/tasks-ribosome" --run "$OUT/judged-ribosome-smollm" --planner-family smollm \
  --judges "$OUT/judges/smollm-http.toml"
$BIN stats "$OUT/judged-ribosome-smollm" > "$OUT/stats-ribosome-smollm.txt"
$BIN stats "$OUT/judged" > "$OUT/stats.txt"
$BIN stats "$OUT/judged" --json > "$OUT/stats.json"
for r in "${runs[@]}" "$OUT/judged" "$OUT/judged-ribosome-smollm"; do $BIN verify "$r"; done
